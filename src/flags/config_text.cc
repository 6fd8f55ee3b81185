#include "flags/config_text.h"

#include <fmt/core.h>

namespace registryd {
namespace {

bool IsNumber(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

std::string TomlString(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string TomlValue(const std::vector<std::string>& values, bool list) {
  if (!list && values.size() == 1) return IsNumber(values[0]) ? values[0] : TomlString(values[0]);
  std::string array = "[";
  for (size_t i = 0; i < values.size(); ++i) array += (i > 0 ? ", " : "") + TomlString(values[i]);
  return array + "]";
}

void AppendOptions(const CLI::App& app, std::string& text) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->get_configurable() || option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    if (name == "help" || name == "config") continue;
    const bool list = option->get_items_expected_max() > 1;
    std::vector<std::string> values = option->count() > 0 ? option->results() : std::vector<std::string>{};
    if (option->count() == 0 && !option->get_default_str().empty()) values.push_back(option->get_default_str());
    // Given empty on purpose (--data-dir "", --http-listen ""): that is a value.
    const bool given_empty = !list && option->count() > 0 && values.size() == 1 && values[0].empty();
    std::erase(values, std::string());
    text += fmt::format("\n# {}\n", option->get_description());
    if (given_empty) {
      text += fmt::format("{} = \"\"\n", name);
    } else if (values.empty()) {
      text += fmt::format("# {} =\n", name);  // unset
    } else {
      text += fmt::format("{} = {}\n", name, TomlValue(values, list));
    }
  }
}

}  // namespace

std::string ConfigText(const CLI::App& app) {
  std::string text = fmt::format("# registryd --config file: every flag, as in `registryd --help`.\n");
  AppendOptions(app, text);
  for (const CLI::App* group : app.get_subcommands([](const CLI::App*) { return true; })) {
    text += fmt::format("\n# --- {}: {}\n", group->get_group(), group->get_description());
    AppendOptions(*group, text);
  }
  return text;
}

}  // namespace registryd
