#include "dns/dns_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include <fmt/core.h>

#include "core/host_port.h"
#include "core/log.h"
#include "metrics/thread_metrics.h"

namespace registryd::dns {
namespace {

constexpr int kBindAttempts = 20;  // port 0: UDP takes a free port, TCP may find it taken
// UDP: datagrams read (and answers sent) per system call; the bytes read of
// each (a longer query is read cut short, and is FORMERR); the receive
// buffer asked for, so a burst of queries waits instead of being dropped
// (the kernel's default holds some 200; without privileges the kernel caps
// it at net.core.rmem_max).
constexpr size_t kUdpBatch = 32;
constexpr size_t kMaxUdpQuery = 4096;
constexpr int kUdpReceiveBuffer = 4 << 20;

struct Bound {
  int udp = -1;
  int tcp = -1;
  int port = 0;
};

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t size = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return -1;
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

int Socket(const addrinfo& where, int type, int port) {
  const int fd = socket(where.ai_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  if (type == SOCK_DGRAM) {
    // Beyond rmem_max where registryd may (CAP_NET_ADMIN); else up to it.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kUdpReceiveBuffer, sizeof(kUdpReceiveBuffer)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kUdpReceiveBuffer, sizeof(kUdpReceiveBuffer));
    }
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &yes, sizeof(yes));  // the kernel's count of drops, on each datagram
  }
  sockaddr_storage address{};
  std::memcpy(&address, where.ai_addr, where.ai_addrlen);
  if (where.ai_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&address)->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in*>(&address)->sin_port = htons(static_cast<uint16_t>(port));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), where.ai_addrlen) != 0 ||
      (type == SOCK_STREAM && listen(fd, 128) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends all of `bytes` unless the peer takes none of it for
// kTcpWriteMillis: a reader that slow loses its connection.
bool SendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd writable = {fd, POLLOUT, 0};
      if (poll(&writable, 1, kTcpWriteMillis) == 1) continue;
    }
    return false;
  }
  return true;
}

struct TcpConnection {
  int fd;
  std::vector<uint8_t> received;  // what came and is not yet a whole query
  std::chrono::steady_clock::time_point active;
};

}  // namespace

DnsServer::DnsServer(Registry& registry, DnsOptions options, const auth::Authority* authority)
    : registry_(registry), options_(std::move(options)), authority_(authority) {}

DnsServer::~DnsServer() { Stop(); }

absl::Status DnsServer::Start() {
  const std::optional<std::pair<std::string, int>> split = SplitHostPort(options_.listen);
  if (!split) {
    return absl::InvalidArgumentError(
        fmt::format("--dns-listen: '{}' is not host:port (e.g. 127.0.0.1:8600 or [::1]:0)", options_.listen));
  }
  const auto& [host, port] = *split;
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return absl::InvalidArgumentError(fmt::format("--dns-listen: cannot resolve '{}'", host));
  }
  const addrinfo where = *found;
  for (int attempt = 0; attempt < kBindAttempts && tcp_fd_ < 0; ++attempt) {
    udp_fd_ = Socket(where, SOCK_DGRAM, port);
    if (udp_fd_ < 0) break;
    tcp_fd_ = Socket(where, SOCK_STREAM, BoundPort(udp_fd_));
    if (tcp_fd_ < 0) {
      close(udp_fd_);
      udp_fd_ = -1;
      if (port != 0) break;
    }
  }
  freeaddrinfo(found);
  if (udp_fd_ < 0 || tcp_fd_ < 0) {
    return absl::UnavailableError(fmt::format("--dns-listen: cannot listen on {} (UDP and TCP): {}",
                                              options_.listen, std::strerror(errno)));
  }
  address_ = JoinHostPort(host, BoundPort(udp_fd_));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  udp_thread_ = std::thread([this] { ServeUdp(); });
  tcp_thread_ = std::thread([this] { ServeTcp(); });
  return absl::OkStatus();
}

void DnsServer::Stop() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (udp_thread_.joinable()) udp_thread_.join();
  if (tcp_thread_.joinable()) tcp_thread_.join();
  for (int* fd : {&udp_fd_, &tcp_fd_, &wake_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void DnsServer::ServeUdp() {
  DnsAnswerer answerer(registry_, options_, authority_);
  // A batch's queries, their senders, the kernel's drop counts, and answers.
  std::vector<std::array<uint8_t, kMaxUdpQuery>> queries(kUdpBatch);
  std::array<sockaddr_storage, kUdpBatch> peers{};
  std::array<std::array<char, CMSG_SPACE(sizeof(uint32_t))>, kUdpBatch> controls{};
  std::array<iovec, kUdpBatch> query_iovecs{};
  std::array<mmsghdr, kUdpBatch> received{};
  std::vector<std::string> answers(kUdpBatch);
  std::array<iovec, kUdpBatch> answer_iovecs{};
  std::array<mmsghdr, kUdpBatch> replies{};
  uint32_t dropped_so_far = 0;
  for (;;) {
    pollfd fds[2] = {{udp_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if ((fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    // Read until the socket is empty, a batch a call: one poll for a burst.
    for (int read = static_cast<int>(kUdpBatch); read == static_cast<int>(kUdpBatch) && !stopping_.load();) {
      for (size_t i = 0; i < kUdpBatch; ++i) {
        query_iovecs[i] = {queries[i].data(), queries[i].size()};
        received[i].msg_hdr = msghdr{&peers[i], sizeof(peers[i]), &query_iovecs[i], 1,
                                     controls[i].data(), controls[i].size(), 0};
      }
      read = recvmmsg(udp_fd_, received.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
      size_t sending = 0;
      for (int i = 0; i < read; ++i) {
        const msghdr& message = received[i].msg_hdr;
        for (cmsghdr* control = CMSG_FIRSTHDR(&message); control != nullptr;
             control = CMSG_NXTHDR(const_cast<msghdr*>(&message), control)) {
          if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SO_RXQ_OVFL) continue;
          uint32_t dropped = 0;
          std::memcpy(&dropped, CMSG_DATA(control), sizeof(dropped));
          metrics::Local().dns_udp_dropped.Add(dropped - dropped_so_far);  // the socket's count so far
          dropped_so_far = dropped;
        }
        answers[sending] = answerer.Answer({queries[i].data(), received[i].msg_len}, /*over_tcp=*/false);
        if (answers[sending].empty()) continue;
        answer_iovecs[sending] = {answers[sending].data(), answers[sending].size()};
        replies[sending].msg_hdr = msghdr{message.msg_name, message.msg_namelen, &answer_iovecs[sending], 1,
                                          nullptr, 0, 0};
        ++sending;
      }
      // What the socket's send buffer cannot take now is dropped, as the
      // network would.
      for (size_t sent = 0; sent < sending;) {
        const int n = sendmmsg(udp_fd_, replies.data() + sent, static_cast<unsigned>(sending - sent), MSG_DONTWAIT);
        if (n > 0) {
          sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          ++sent;  // that peer's error (unreachable, say): the others still get theirs
        } else {
          break;
        }
      }
    }
  }
}

void DnsServer::ServeTcp() {
  DnsAnswerer answerer(registry_, options_, authority_);
  std::vector<TcpConnection> connections;
  std::vector<pollfd> fds;
  std::vector<uint8_t> chunk(65536 + 2);
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // At the cap, new connections wait in the kernel's backlog.
    fds.push_back({connections.size() < kMaxTcpConnections ? tcp_fd_ : -1, POLLIN, 0});
    for (const TcpConnection& connection : connections) fds.push_back({connection.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if ((fds[0].revents & POLLIN) != 0) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < connections.size(); ++i) {
      TcpConnection& connection = connections[i];
      bool open = true;
      if ((fds[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = recv(connection.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n > 0) {
          connection.received.insert(connection.received.end(), chunk.begin(), chunk.begin() + n);
          connection.active = now;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          open = false;
        }
      }
      // Every whole query that came: a two-byte length, then the message.
      while (open && connection.received.size() >= 2) {
        const size_t size = static_cast<size_t>(connection.received[0] << 8 | connection.received[1]);
        if (connection.received.size() < 2 + size) break;
        const std::string answer =
            answerer.Answer({connection.received.data() + 2, size}, /*over_tcp=*/true);
        connection.received.erase(connection.received.begin(), connection.received.begin() + 2 + size);
        open = !answer.empty() &&
               SendAll(connection.fd, std::string{static_cast<char>(answer.size() >> 8),
                                                  static_cast<char>(answer.size() & 0xff)} + answer);
      }
      if (open && now - connection.active > std::chrono::milliseconds(kTcpIdleMillis)) open = false;
      if (!open) {
        close(connection.fd);
        connection.fd = -1;
      }
    }
    std::erase_if(connections, [](const TcpConnection& connection) { return connection.fd < 0; });
    if ((fds[1].revents & POLLIN) != 0) {
      const int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) connections.push_back({fd, {}, now});
    }
  }
  for (const TcpConnection& connection : connections) close(connection.fd);
}

}  // namespace registryd::dns
