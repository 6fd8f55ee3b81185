#include "core/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"

namespace registryd {

// One read into a string sized from fstat: a snapshot of a million
// registrations is tens of megabytes, read once and not copied.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("cannot read " + path + ": " + std::strerror(errno));
  struct stat status {};
  if (fstat(fd, &status) != 0) {
    const int error = errno;
    close(fd);
    return absl::DataLossError("cannot read " + path + ": " + std::strerror(error));
  }
  std::string contents(static_cast<size_t>(status.st_size), '\0');
  size_t filled = 0;
  for (;;) {
    if (filled == contents.size()) contents.resize(contents.size() + 4096);  // it grew meanwhile
    const ssize_t n = read(fd, contents.data() + filled, contents.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::DataLossError("cannot read " + path + ": " + std::strerror(error));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  close(fd);
  contents.resize(filled);
  return contents;
}

}  // namespace registryd
