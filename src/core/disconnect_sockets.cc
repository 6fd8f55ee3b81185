#include "core/disconnect_sockets.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/functional/function_ref.h"
#include "core/host_port.h"
#include "core/mutex.h"

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

// Resets every socket of this process for which `chosen(fd, inode)` is true.
size_t DisconnectChosen(absl::FunctionRef<bool(int fd, uint64_t inode)> chosen) {
  // Two queues' tickers may walk at once: a socket that one has just reset
  // still takes connect(AF_UNSPEC), and would be reset and counted twice.
  static Mutex walking;
  MutexLock lock(&walking);
  DIR* descriptors = opendir("/proc/self/fd");
  if (descriptors == nullptr) return 0;
  const int directory = dirfd(descriptors);
  size_t reset = 0;
  while (const dirent* entry = readdir(descriptors)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == directory) continue;
    const uint64_t inode = SocketInode(directory, entry->d_name);
    if (inode == 0 || !chosen(fd, inode)) continue;
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

// The port of an IPv4 or IPv6 socket address; 0 for other families.
uint16_t PortOf(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return 0;
}

// An IPv4 or IPv6 socket address as "address:port", an IPv4-mapped IPv6
// address as IPv4 (as gRPC names peers).
std::string NameOf(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  } else if (const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address); IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
    inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof text);
  } else {
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  }
  return JoinHostPort(text, PortOf(address));
}

}  // namespace

size_t DisconnectSockets(const std::vector<uint64_t>& inodes) {
  if (inodes.empty()) return 0;
  return DisconnectChosen(
      [&](int, uint64_t inode) { return std::find(inodes.begin(), inodes.end(), inode) != inodes.end(); });
}

size_t DisconnectPeers(uint16_t port, const std::vector<std::string>& peers, std::chrono::milliseconds quiet) {
  if (peers.empty()) return 0;
  return DisconnectChosen([&](int fd, uint64_t) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    if (PortOf(address) != port) return false;  // not a connection to registryd's port (or not TCP/IP)
    length = sizeof address;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    if (std::find(peers.begin(), peers.end(), NameOf(address)) == peers.end()) return false;
    tcp_info info{};
    socklen_t info_length = sizeof info;
    int unsent = 0;  // bytes not yet sent or not yet acknowledged
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_length) != 0 || ioctl(fd, SIOCOUTQ, &unsent) != 0) {
      return false;
    }
    return unsent == 0 || std::chrono::milliseconds(info.tcpi_last_data_sent) >= quiet;
  });
}

}  // namespace registryd
