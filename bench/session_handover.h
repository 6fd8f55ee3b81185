// The sessions scenario on a cluster target (issue #26: a node killed while
// it holds sessions whose clients reconnect elsewhere within grace causes no
// REMOVED on the survivors, and refreshes write nothing to etcd). Node 0
// holds `handover_sessions` sessions of `handover_session_size` instances,
// with a TTL and grace of `handover_ttl`, kept by bench/roaming_sessions.h.
// Phases:
//  - "handover-open": the sessions opened with their instances (latency:
//    the open and the registrations of each);
//  - "handover-refresh": three keep-alives of every session (a TTL's worth),
//    once every survivor lists every instance. etcd's keys under sessions/
//    and instances/ are read before and after: each key written meanwhile
//    is an error (FAILED_PRECONDITION), as the target is none;
//  - "handover-resume": node 0 killed with SIGKILL; each client resumes on
//    node 1, 2, ... in turn (latency: from the kill until its resume was
//    answered). Twice --node-ttl and a TTL after the kill (the takeover has
//    come and gone), a session is an error when it was not resumed
//    (DEADLINE_EXCEEDED, or the code it was refused with), when a Watch on a
//    survivor (started once it listed every instance) saw one of its
//    instances REMOVED or ADDED again, or the survivor sent another
//    snapshot (FAILED_PRECONDITION), or when a survivor does not list all
//    its instances then (DATA_LOSS).
#pragma once

#include <vector>

#include "bench/scenarios.h"

namespace registryd::bench {

std::vector<Phase> MeasureSessionHandover(const Target& target, const ScenarioOptions& options);

}  // namespace registryd::bench
