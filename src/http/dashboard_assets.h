// The dashboard's files, built into the binary (embed_assets.py).
#pragma once

#include <string_view>

namespace registryd::http {

extern const std::string_view kDashboardHtml;
extern const std::string_view kDashboardJs;
extern const std::string_view kDashboardCss;

}  // namespace registryd::http
