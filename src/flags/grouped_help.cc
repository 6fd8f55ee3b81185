#include "flags/grouped_help.h"

#include <sstream>

namespace registryd::flags {

std::string GroupedHelp::make_expanded(const CLI::App* sub) const {
  if (!sub->get_name().empty()) return CLI::Formatter::make_expanded(sub);  // a subcommand, as CLI11 shows it
  // The group's options come under the group's own heading, not "Options:".
  std::string options = make_groups(sub, CLI::AppFormatMode::Sub);
  const std::string label = "\n" + get_label("Options") + ":\n";
  if (options.starts_with(label)) options.erase(0, label.size());
  return "\n" + sub->get_group() + ":\n  " + sub->get_description() + "\n\n" + options;
}

std::string GroupedHelp::make_option(const CLI::Option* option, bool is_positional) const {
  std::string name = make_option_name(option, is_positional) + make_option_opts(option);
  // CLI11 indents the name by two and puts the description one space after a
  // name that just fits: push such a name's description to the next line.
  if (name.size() + 3 == get_column_width()) name += ' ';
  std::stringstream out;
  CLI::detail::format_help(out, name, make_option_desc(option), get_column_width());
  return out.str();
}

}  // namespace registryd::flags
