// A whole file's contents (certificates, keys), with an error that names the
// file and the reason.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace registryd {

absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace registryd
