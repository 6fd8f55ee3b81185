#include "bench/http_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace registryd::bench {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr size_t kSlowReadBytes = 64;  // per kPollInterval

}  // namespace

IdleListener::IdleListener() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 || listen(fd_, 5) != 0) {
    if (fd_ >= 0) close(fd_);
    throw std::runtime_error("http-load-elsewhere: cannot listen on loopback");
  }
  port_ = ntohs(address.sin_port);
}

IdleListener::~IdleListener() { close(fd_); }

HttpLoad::HttpLoad(int port, HttpLoadOptions options) : port_(port), options_(std::move(options)) {
  if (options_.idle_connections > 0) threads_.emplace_back([this] { KeepIdle(); });
  for (int i = 0; i < options_.slow_readers; ++i) threads_.emplace_back([this] { ReadSlowly(); });
}

HttpLoad::~HttpLoad() {
  stopping_ = true;
  for (std::thread& thread : threads_) thread.join();
}

int HttpLoad::Connect() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  // A small receive buffer: what the server sends waits on its side.
  const int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port_));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);  // completes in the background
  ++opened_;
  return fd;
}

// Holds idle_connections open: the server's keep-alive timeout closes them,
// and each closed one is opened again.
void HttpLoad::KeepIdle() {
  std::vector<pollfd> sockets;
  for (int i = 0; i < options_.idle_connections; ++i) sockets.push_back({Connect(), POLLIN, 0});
  while (!stopping_) {
    poll(sockets.data(), sockets.size(), static_cast<int>(kPollInterval.count()));
    for (pollfd& socket : sockets) {
      if (socket.revents == 0 && socket.fd >= 0) continue;
      char drain[512];
      if (socket.fd >= 0 && read(socket.fd, drain, sizeof drain) > 0) continue;  // an error body: still open
      if (socket.fd >= 0) close(socket.fd);
      socket.fd = Connect();
      socket.revents = 0;
    }
  }
  for (const pollfd& socket : sockets) {
    if (socket.fd >= 0) close(socket.fd);
  }
}

void HttpLoad::ReadSlowly() {
  while (!stopping_) {
    const int fd = Connect();
    if (fd < 0) return;
    pollfd writable{fd, POLLOUT, 0};
    if (poll(&writable, 1, 1000) == 1 && (writable.revents & POLLOUT)) {
      const std::string request = "GET " + options_.slow_path + " HTTP/1.1\r\nHost: bench\r\n\r\n";
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
        for (;;) {
          if (stopping_) break;
          std::this_thread::sleep_for(kPollInterval);
          char chunk[kSlowReadBytes];
          const ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;  // the server gave up on it
        }
      }
    }
    close(fd);
  }
}

}  // namespace registryd::bench
