#include "core/receive_backlog.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace registryd {
namespace {

// NLMSG_OK, without its comparison of a signed length with an unsigned one.
bool MessageFits(const nlmsghdr* header, int left) {
  return left >= static_cast<int>(sizeof *header) && header->nlmsg_len >= sizeof *header &&
         header->nlmsg_len <= static_cast<unsigned>(left);
}

// TCP states (the kernel's net/tcp_states.h) whose receive queue can hold
// requests: established, and closed by the client with requests unread.
constexpr uint32_t kEstablished = 1;
constexpr uint32_t kCloseWait = 8;
// A connection whose oldest unread byte is that old keeps that byte's time
// and stops recording newer arrivals: the age stays right, the memory bounded.
constexpr size_t kMaxArrivals = 256;

absl::Status Errno(const char* what) {
  return absl::UnavailableError(fmt::format("socket diagnostics: {}: {}", what, std::strerror(errno)));
}

}  // namespace

ReceiveBacklog::~ReceiveBacklog() {
  if (socket_ >= 0) close(socket_);
}

Duration ReceiveBacklog::Account(Connection& connection, uint64_t received, uint64_t unread, TimePoint now) {
  std::deque<Arrival>& arrivals = connection.arrivals;
  if ((arrivals.empty() || received > arrivals.back().received) && arrivals.size() < kMaxArrivals) {
    arrivals.push_back(Arrival{now, received});
  }
  // The first sample that had received more than was read since had the
  // oldest unread byte.
  const uint64_t read = received - std::min(unread, received);
  while (!arrivals.empty() && arrivals.front().received <= read) arrivals.pop_front();
  if (unread == 0 || arrivals.empty()) return Duration::zero();
  return now - arrivals.front().seen;
}

absl::Status ReceiveBacklog::Dump(TimePoint now, BacklogSample& sample) {
  // The older request (TCPDIAG_GETSOCK) dumps IPv4 and IPv6 in one walk of
  // the kernel's TCP table: the walk of its (mostly empty) buckets is what a
  // sample costs, and SOCK_DIAG_BY_FAMILY would take one walk per family.
  struct {
    nlmsghdr header;
    inet_diag_req request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = TCPDIAG_GETSOCK;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.idiag_states = (1u << kEstablished) | (1u << kCloseWait);
  message.request.idiag_ext = 1u << (INET_DIAG_INFO - 1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(socket_, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return Errno("sendto");
  }
  alignas(nlmsghdr) char buffer[32 * 1024];
  for (;;) {
    const ssize_t length = recv(socket_, buffer, sizeof buffer, 0);
    if (length < 0 && errno == EINTR) continue;
    if (length <= 0) return Errno("recv");
    int left = static_cast<int>(length);
    for (auto* header = reinterpret_cast<nlmsghdr*>(buffer); MessageFits(header, left); header = NLMSG_NEXT(header, left)) {
      if (header->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
        errno = -error->error;
        return Errno("dump");
      }
      const auto* socket = static_cast<const inet_diag_msg*>(NLMSG_DATA(header));
      if (ntohs(socket->id.idiag_sport) != port_) continue;
      tcp_info info{};
      int attributes_left = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof *socket));
      for (auto* attribute = reinterpret_cast<rtattr*>(const_cast<inet_diag_msg*>(socket) + 1);
           RTA_OK(attribute, attributes_left); attribute = RTA_NEXT(attribute, attributes_left)) {
        if (attribute->rta_type != INET_DIAG_INFO) continue;
        std::memcpy(&info, RTA_DATA(attribute), std::min<size_t>(RTA_PAYLOAD(attribute), sizeof info));
      }
      // Kernels before 4.1 do not count the bytes received: nothing to say.
      if (info.tcpi_bytes_received == 0) continue;
      const uint64_t cookie = uint64_t{socket->id.idiag_cookie[0]} | uint64_t{socket->id.idiag_cookie[1]} << 32;
      Connection& connection = connections_[cookie];
      connection.sample = sample_;
      const Duration wait = Account(connection, info.tcpi_bytes_received, socket->idiag_rqueue, now);
      sample.oldest = std::max(sample.oldest, wait);
      if (wait > stale_after_) sample.stale.push_back(socket->idiag_inode);
    }
  }
}

absl::StatusOr<BacklogSample> ReceiveBacklog::Sample(TimePoint now) {
  if (socket_ < 0) {
    socket_ = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (socket_ < 0) return Errno("socket");
  }
  ++sample_;
  BacklogSample sample;
  if (absl::Status dumped = Dump(now, sample); !dumped.ok()) return dumped;
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->second.sample == sample_) {
      ++it;
    } else {
      connections_.erase(it++);  // closed since
    }
  }
  return sample;
}

}  // namespace registryd
