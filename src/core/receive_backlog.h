// How long requests have waited in the kernel before registryd read them: the
// age of the oldest byte still unread in the TCP receive queues of its
// connections on one port (Linux's socket diagnostics, as `ss` reads them).
//
// A backlog there is invisible to registryd otherwise: gRPC reads a
// connection only as fast as its queue thread gets to it, and a call's
// deadline starts when its headers are read, so neither the expiry alarms
// nor the calls' deadlines say how long it waited before. With many calls
// multiplexed on few connections, an overload leaves seconds of them there.
//
// Each sample dumps the port's established TCP sockets with their bytes
// received and their bytes unread (received less unread is what registryd
// read), and remembers when each connection's byte counts grew: the oldest
// unread byte arrived between the last sample that had not received it and
// the first that had. The age reported is from the latter: a lower bound,
// within one sampling period. (So a stall of the whole process does not age
// what arrived during it: the sample after it is the first to see it.)
//
// It also names the connections whose oldest unread byte has waited longer
// than `stale_after`: what they hold is older than any renewal's deadline,
// and reading it first, as TCP must, would keep every later request waiting
// as long (core/disconnect_sockets.h).
//
// Not thread-safe: one caller (one queue's expiry alarm).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/clock.h"

namespace registryd {

struct BacklogSample {
  Duration oldest = Duration::zero();  // the oldest unread byte's wait, on any connection
  std::vector<uint64_t> stale;         // socket inodes of the connections where it exceeds stale_after
};

class ReceiveBacklog {
 public:
  explicit ReceiveBacklog(uint16_t port, Duration stale_after = Duration::max())
      : port_(port), stale_after_(stale_after) {}
  ReceiveBacklog(const ReceiveBacklog&) = delete;
  ReceiveBacklog& operator=(const ReceiveBacklog&) = delete;
  ~ReceiveBacklog();

  // Samples the port's connections at `now`: how long the oldest byte still
  // unread on any of them has waited (zero when none is unread), and which
  // are stale. UNAVAILABLE when the kernel's socket diagnostics cannot be
  // read.
  absl::StatusOr<BacklogSample> Sample(TimePoint now);
  Duration stale_after() const { return stale_after_; }

 private:
  struct Arrival {
    TimePoint seen;     // the first sample that had received...
    uint64_t received;  // ...this many bytes in all
  };
  struct Connection {
    std::deque<Arrival> arrivals;  // oldest first; the first one may be read already
    uint64_t sample = 0;           // the last sample it was in
  };
  // Adds one connection's counts to its history; returns the age of its
  // oldest unread byte.
  Duration Account(Connection& connection, uint64_t received, uint64_t unread, TimePoint now);
  absl::Status Dump(TimePoint now, BacklogSample& sample);

  const uint16_t port_;
  const Duration stale_after_;
  int socket_ = -1;  // NETLINK_SOCK_DIAG, opened at the first sample
  uint64_t sample_ = 0;
  absl::flat_hash_map<uint64_t, Connection> connections_;  // by socket cookie
};

}  // namespace registryd
