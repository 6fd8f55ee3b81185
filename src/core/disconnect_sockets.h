// Resets TCP connections of this process, found by their socket inodes (as
// the kernel's socket diagnostics name them, core/receive_backlog.h) or by
// their two ends' addresses (as gRPC names a call's peer).
//
// Why: when registryd falls behind, requests wait unread in the kernel's
// receive queues of its few client connections, oldest first. Once what a
// connection holds is older than its callers' deadlines, every call read
// from it is one its client gave up on, and each costs as much as a fresh
// one: the backlog never drains while the load lasts, and drains slowly
// after it (a metastable state plain gRPC has too). Resetting the
// connection drops that backlog at once; its clients see UNAVAILABLE,
// reconnect and send fresh calls, which registryd can answer in time.
// The same holds for a connection whose answers gRPC keeps unsent
// (server/queue/unsent_answers.h).
//
// How: connect() to an AF_UNSPEC address, which Linux turns into
// tcp_disconnect(): the unread bytes are dropped, the peer gets a reset,
// and the socket's owner (gRPC, which keeps the descriptor) reads
// ECONNRESET and closes its end as if the client had reset it. No privilege
// is needed (unlike SOCK_DESTROY) and gRPC's descriptor stays its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace registryd {

// Resets this process's sockets with these inodes; returns how many it reset.
// Walks /proc/self/fd, so call it only when there is something to reset.
size_t DisconnectSockets(const std::vector<uint64_t>& inodes);

// Resets this process's TCP connections on local port `port` whose far ends
// are `peers`, each "address:port" ("127.0.0.1:5000", "[::1]:5000"; an
// IPv4-mapped IPv6 address counts as its IPv4 address, as gRPC names it; a
// scoped link-local address never matches), and that are stuck: they sent no
// data for `quiet` (the kernel's count, in ms), or the kernel holds nothing
// of theirs to send (their writes are held above it). One that holds bytes
// to send and sent some within `quiet` is slow, not stuck. Returns how many
// it reset. Walks /proc/self/fd, as above.
size_t DisconnectPeers(uint16_t port, const std::vector<std::string>& peers, std::chrono::milliseconds quiet);

}  // namespace registryd
