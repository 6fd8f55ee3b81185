#include "persist/local_writer.h"

#include <vector>

#include "core/log.h"

namespace registryd {

template <typename Result>
void LocalWriter::AnswerWhenDurable(absl::StatusOr<Result> result, Done<Result> done) {
  if (!result.ok() || synced_ == nullptr) {
    std::move(done)(std::move(result));
    return;
  }
  // The registry's revision now covers this change (and perhaps later ones).
  synced_->WhenDurable(registry_.Revision(),
                       [result = std::move(result), done = std::move(done)](bool durable) mutable {
                         if (!durable) {
                           result = absl::UnavailableError(
                               "the change is made but could not be written to the data dir; it may not survive "
                               "a restart");
                         }
                         std::move(done)(std::move(result));
                       });
}

void LocalWriter::Register(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) {
  AnswerWhenDurable(registry_.Register(spec, access.get()), std::move(done));
}

void LocalWriter::SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) {
  AnswerWhenDurable(registry_.SeedRegister(spec, access.get()), std::move(done));
}

void LocalWriter::Deregister(LeaseId lease, AccessRef access, Done<Removal> done) {
  AnswerWhenDurable(registry_.Deregister(lease, access.get()), std::move(done));
}

// An ejection lasts until the next heartbeat: it is journaled, but its
// answer does not wait for the sync.
void LocalWriter::WarnServerError(int32_t server_id, AccessRef access, Done<WarnResult> done) {
  std::move(done)(registry_.WarnServerError(server_id, access.get()));
}

// Sessions live in memory only (README, Sessions): nothing to wait for.
void LocalWriter::OpenSession(SessionSpec spec, Done<OpenedSession> done) {
  std::move(done)(registry_.OpenSession(spec));
}

void LocalWriter::ResumeSession(SessionId id, SessionToken token, std::string owner, std::string peer,
                                Done<ResumedSession> done) {
  std::move(done)(registry_.ResumeSession(id, token, owner, std::move(peer)));
}

void LocalWriter::CloseSession(SessionId id, SessionAttachment attachment, Done<SessionId> done) {
  const absl::Status closed = registry_.CloseSession(id, attachment);
  std::move(done)(closed.ok() ? absl::StatusOr<SessionId>(id) : absl::StatusOr<SessionId>(closed));
}

bool LocalWriter::Expire(uint32_t shard) {
  thread_local std::vector<Removal> expired;
  expired.clear();
  const bool more = registry_.Advance(shard, expired);
  for (const Removal& removal : expired) log::Debug("{}/{} expired", removal.service, removal.instance_id);
  return more;
}

}  // namespace registryd
