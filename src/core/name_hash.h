// Hash and equality over std::string_view, so maps keyed by std::string can
// be searched with a view (Debian's abseil has its own string_view type, so
// its built-in heterogeneous lookup does not take std::string_view).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace registryd {

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};
struct NameEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

}  // namespace registryd
