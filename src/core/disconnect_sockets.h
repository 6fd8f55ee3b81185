// Resets TCP connections of this process, found by their socket inodes (as
// the kernel's socket diagnostics name them, core/receive_backlog.h).
//
// Why: when registryd falls behind, requests wait unread in the kernel's
// receive queues of its few client connections, oldest first. Once what a
// connection holds is older than its callers' deadlines, every call read
// from it is one its client gave up on, and each costs as much as a fresh
// one: the backlog never drains while the load lasts, and drains slowly
// after it (a metastable state plain gRPC has too). Resetting the
// connection drops that backlog at once; its clients see UNAVAILABLE,
// reconnect and send fresh calls, which registryd can answer in time.
//
// How: connect() to an AF_UNSPEC address, which Linux turns into
// tcp_disconnect(): the unread bytes are dropped, the peer gets a reset,
// and the socket's owner (gRPC, which keeps the descriptor) reads
// ECONNRESET and closes its end as if the client had reset it. No privilege
// is needed (unlike SOCK_DESTROY) and gRPC's descriptor stays its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace registryd {

// Resets this process's sockets with these inodes; returns how many it reset.
// Walks /proc/self/fd, so call it only when there is something to reset.
size_t DisconnectSockets(const std::vector<uint64_t>& inodes);

}  // namespace registryd
