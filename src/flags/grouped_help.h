// registryd's --help with each flag group under a heading of its own,
// "Serving:" and its description, rather than CLI11's "[Option Group:
// Serving]": help2man makes each heading a section of the man page. A flag
// and its description are always two spaces apart at least, which is how
// help2man tells them apart.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace registryd::flags {

class GroupedHelp final : public CLI::Formatter {
 public:
  std::string make_expanded(const CLI::App* sub) const override;
  std::string make_option(const CLI::Option* option, bool is_positional) const override;
};

}  // namespace registryd::flags
