// Standalone registryd's RegistryWriter: every change is made in memory at
// once, and the data dir's journal (if any) follows it from the registry's
// change logs. Under --fsync=always a change is answered once its journal
// sync completed.
#pragma once

#include "core/registry_writer.h"
#include "persist/journal.h"

namespace registryd {

class LocalWriter final : public RegistryWriter {
 public:
  // `synced`: the journal whose sync a change's answer waits for, or null.
  LocalWriter(Registry& registry, Journal* synced) : registry_(registry), synced_(synced) {}

  void Register(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) override;
  void SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) override;
  void Deregister(LeaseId lease, AccessRef access, Done<Removal> done) override;
  void WarnServerError(int32_t server_id, AccessRef access, Done<WarnResult> done) override;
  void OpenSession(SessionSpec spec, Done<OpenedSession> done) override;
  void ResumeSession(SessionId id, SessionToken token, std::string owner, std::string peer,
                     Done<ResumedSession> done) override;
  void CloseSession(SessionId id, SessionAttachment attachment, Done<SessionId> done) override;
  absl::Status RefreshSession(SessionId id, SessionAttachment attachment) override {
    return registry_.RefreshSession(id, attachment);
  }
  absl::StatusOr<Duration> Heartbeat(LeaseId lease, bool overloaded, const Access* access) override {
    return registry_.Heartbeat(lease, overloaded, access);
  }
  absl::StatusOr<Duration> SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) override {
    return registry_.SeedHeartbeat(server_id, overloaded, access);
  }
  bool Expire(uint32_t shard) override;
  Registry& registry() override { return registry_; }

 private:
  // Answers once the registry's current revision (which covers the change)
  // is synced, when changes wait for syncs.
  template <typename Result>
  void AnswerWhenDurable(absl::StatusOr<Result> result, Done<Result> done);

  Registry& registry_;
  Journal* const synced_;
};

}  // namespace registryd
