// A fresh directory under /tmp for one spawned server's data, removed with
// the object.
#pragma once

#include <string>

namespace registryd::bench {

class TempDir {
 public:
  // Throws std::runtime_error when it cannot be created.
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace registryd::bench
