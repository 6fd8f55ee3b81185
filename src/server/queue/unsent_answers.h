// The unary calls of one queue whose answers wait for gRPC to send them.
//
// An answer handed to gRPC is sent at once as a rule: the kernel's send
// buffer takes it. One that still waits after --shed-unread-after waits on
// its connection: a client that stopped reading (its HTTP/2 window full), or
// gRPC 1.51 under overload, seen to hold a connection's answers unsent for
// seconds while it went on reading that connection's calls
// (docs/PERFORMANCE.md, "Answers gRPC holds unsent"). Each such answer keeps
// a call object (CallPool), and the calls gRPC reads meanwhile pile up in it
// unanswered, so that connection is reset (core/disconnect_sockets.h), as one
// whose requests wait unread: its calls end, their objects come free, and
// its client reconnects. Only if it is stuck (core/disconnect_sockets.h):
// a big answer (a Discover of a large service) to a slow reader waits while
// it is being sent, and that connection is not. And not when the queue runs
// behind, nor just after a stall: the reports of answers sent meanwhile may
// not have been taken yet (server/expiry_ticker.h).
//
// Used on the queue's thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/clock.h"

namespace registryd {

class UnsentAnswers {
 public:
  // Adds to `peers` gRPC's name of the peer of every call whose answer was
  // handed to gRPC before `before` and is not sent yet (one pool of calls).
  using Source = absl::AnyInvocable<void(TimePoint before, std::vector<std::string>& peers) const>;

  void Add(Source source) { sources_.push_back(std::move(source)); }
  // The addresses ("127.0.0.1:5000", "[::1]:5000") of the TCP peers whose
  // answers were handed to gRPC before `before` and still wait, each once.
  std::vector<std::string> PeersWaitingSince(TimePoint before) const;

 private:
  std::vector<Source> sources_;
};

// "127.0.0.1:5000" for gRPC's "ipv4:127.0.0.1:5000" ("[::1]:5000" for
// "ipv6:[::1]:5000"); empty for a peer that is not TCP/IP (in-process, Unix).
std::string_view TcpPeerAddress(std::string_view grpc_peer);

}  // namespace registryd
