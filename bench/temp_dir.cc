#include "bench/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>

namespace registryd::bench {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a data dir in /tmp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace registryd::bench
