#include "core/read_file.h"

#include "core/mapped_file.h"

namespace registryd {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return std::string(file->bytes());
}

}  // namespace registryd
