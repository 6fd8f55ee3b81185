// A file mapped read-only: a snapshot of a million registrations (tens of
// megabytes) is parsed where the page cache holds it, without a copy. Pages
// come in as they are read (sequential read-ahead), and a reader gives back
// those it is done with (Release), so a restore holds a few megabytes of the
// file, not all of it.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace registryd {

class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile();

  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }
  // The pages wholly before `offset` leave this process's memory (they stay
  // in the page cache, and are read again from there if touched).
  void Release(size_t offset) const;

 private:
  MappedFile(void* data, size_t size) : data_(data), size_(size) {}

  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace registryd
