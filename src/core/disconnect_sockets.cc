#include "core/disconnect_sockets.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace registryd {
namespace {

// The inode of the socket `name` (an entry of /proc/self/fd) stands for, or 0.
uint64_t SocketInode(int directory, const char* name) {
  char target[64];
  const ssize_t length = readlinkat(directory, name, target, sizeof target - 1);
  if (length <= 0) return 0;
  target[length] = '\0';
  uint64_t inode = 0;
  return std::sscanf(target, "socket:[%" SCNu64 "]", &inode) == 1 ? inode : 0;
}

}  // namespace

size_t DisconnectSockets(const std::vector<uint64_t>& inodes) {
  if (inodes.empty()) return 0;
  DIR* descriptors = opendir("/proc/self/fd");
  if (descriptors == nullptr) return 0;
  const int directory = dirfd(descriptors);
  size_t reset = 0;
  while (const dirent* entry = readdir(descriptors)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == directory) continue;
    const uint64_t inode = SocketInode(directory, entry->d_name);
    if (inode == 0 || std::find(inodes.begin(), inodes.end(), inode) == inodes.end()) continue;
    // The descriptor may have been closed and reused since the link was
    // read: reset it only if it is still that socket.
    struct stat status{};
    if (fstat(fd, &status) != 0 || !S_ISSOCK(status.st_mode) || status.st_ino != inode) continue;
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    if (connect(fd, &unspecified, sizeof unspecified) == 0) ++reset;
  }
  closedir(descriptors);
  return reset;
}

}  // namespace registryd
