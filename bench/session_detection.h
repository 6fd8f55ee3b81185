// How soon registryd notices that a session's client is gone: a client
// process (bench/session_client.h) holds `sessions` sessions of one instance
// each; the bench watches their service, then kills the client with SIGKILL
// (grace 0: each REMOVED is timed from the kill; the bound is one tick after
// the reset) or stops it with SIGSTOP (each REMOVED is timed from TTL after
// the session's last refresh; the bound is one tick). The phase's latencies
// are those times; a session never removed is an error (DEADLINE_EXCEEDED),
// one removed before its TTL ran out too (FAILED_PRECONDITION).
#pragma once

#include <chrono>
#include <cstddef>

#include "bench/scenarios.h"

namespace registryd::bench {

enum class ClientFault { kKill, kStop };

Phase MeasureSessionDetection(const Target& target, ClientFault fault, size_t sessions,
                              std::chrono::milliseconds ttl);

}  // namespace registryd::bench
