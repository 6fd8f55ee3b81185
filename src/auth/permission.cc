#include "auth/permission.h"

namespace registryd::auth {

std::string_view NameOf(Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return "read";
    case Permission::kRegister:
      return "register";
    case Permission::kAdmin:
      return "admin";
  }
  return "unknown";
}

}  // namespace registryd::auth
