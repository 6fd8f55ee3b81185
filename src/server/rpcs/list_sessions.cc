// registry.v1.Registry/ListSessions — the sessions open now, for operators.
#include <algorithm>

#include "server/queue/status.h"
#include "server/queue/wire_millis.h"
#include "server/rpcs/native_rpcs.h"

namespace registryd {

// Under a policy, a caller sees the sessions it opened; an admin of every
// service sees them all.
grpc::Status ListSessionsRpc::Handle(Registry& registry, const Request&, Reply& reply, const auth::CallerRef& caller) {
  const bool sees_all = !caller || caller->CanOnEveryService(auth::Permission::kAdmin);
  std::vector<SessionSummary> sessions = registry.sessions().List();
  std::sort(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  const TimePoint now = registry.clock().Now();
  for (const SessionSummary& session : sessions) {
    if (!sees_all && session.owner != caller->identity()) continue;
    registry::v1::SessionInfo& info = *reply.add_sessions();
    info.set_session_id(session.id);
    info.set_instances(static_cast<uint32_t>(session.instances));
    info.set_ttl_ms(ToWireMillis(session.ttl));
    info.set_grace_ms(ToWireMillis(session.grace));
    // Kept by another cluster node: no deadline here, at most its TTL.
    info.set_ttl_remaining_ms(ToWireMillis(std::min<Duration>(session.deadline - now, session.ttl)));
    info.set_attached(session.attached);
    info.set_peer(session.peer);
    info.set_owner(session.owner);
  }
  return grpc::Status::OK;
}

}  // namespace registryd
