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
// within one sampling period.
//
// Not thread-safe: one caller (one queue's expiry alarm).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/clock.h"

namespace registryd {

class ReceiveBacklog {
 public:
  explicit ReceiveBacklog(uint16_t port) : port_(port) {}
  ReceiveBacklog(const ReceiveBacklog&) = delete;
  ReceiveBacklog& operator=(const ReceiveBacklog&) = delete;
  ~ReceiveBacklog();

  // Samples the port's connections at `now`; returns how long the oldest byte
  // still unread on any of them has waited (zero when none is unread).
  // UNAVAILABLE when the kernel's socket diagnostics cannot be read.
  absl::StatusOr<Duration> Sample(TimePoint now);

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
  absl::Status Dump(uint8_t family, TimePoint now, Duration& oldest);

  const uint16_t port_;
  int socket_ = -1;  // NETLINK_SOCK_DIAG, opened at the first sample
  uint64_t sample_ = 0;
  absl::flat_hash_map<uint64_t, Connection> connections_;  // by socket cookie
};

}  // namespace registryd
