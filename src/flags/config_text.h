// registryd --print-config: the effective flags as a TOML file that --config
// reads back. A flag with no value (an unset path, no etcd) is written as a
// comment, so the file documents it without setting it to "".
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace registryd {

// After parsing: every configurable option of `app` and its option groups,
// with its description as a comment.
std::string ConfigText(const CLI::App& app);

}  // namespace registryd
