// The sessions scenario's detection client, a process of its own so that the
// bench can kill or stop it: `registry_bench session-client ADDRESS SESSIONS
// TTL_MS GRACE_MS SERVICE TIMES_FILE` opens SESSIONS sessions, each with one
// instance of SERVICE (instance ids "detect-0", "detect-1", ...), logs
// "sessions open" and then refreshes every session each TTL/3, forever. Slot
// i of TIMES_FILE (SESSIONS int64s, shared memory) holds when session i's
// last answered refresh was sent (CLOCK_MONOTONIC ns): the server saw the
// session alive at that time or later.
#pragma once

namespace registryd::bench {

inline constexpr const char* kSessionClientCommand = "session-client";

int RunSessionClient(int argc, char** argv);

}  // namespace registryd::bench
