// What one registry.v1.Registry/Session stream does with its requests: opens
// or resumes its session, refreshes it on every request, registers and
// deregisters instances in it (through the RegistryWriter, each with a result
// of its own), and, when the stream ends without a close, leaves the session
// in grace. The stream's state machine is SessionCall.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "auth/caller.h"
#include "core/registry_writer.h"
#include "core/session_table.h"
#include "registry/v1/registry.pb.h"
#include "registryd/lenient_requests.pb.h"

#include <grpcpp/support/status.h>

namespace registryd {

class SessionStream {
 public:
  // Instances one register or deregister request may carry.
  static constexpr int kMaxInstancesPerRequest = 1000;
  // OK: write `response`; else the stream ends with that status. Called
  // once, on any thread (a write waits for the journal or etcd).
  using Done = absl::AnyInvocable<void(grpc::Status) &&>;

  explicit SessionStream(RegistryWriter& writer) : writer_(writer) {}
  SessionStream(const SessionStream&) = delete;
  SessionStream& operator=(const SessionStream&) = delete;

  // Under a policy: the stream's caller, resolved when it started and after
  // each reload; a session belongs to its opener's identity.
  void set_caller(const auth::CallerRef& caller) {
    if (caller_ != caller) caller_ = caller;
  }
  // Where the stream comes from, shown to operators (ListSessions).
  void set_peer(std::string peer) { peer_ = std::move(peer); }
  // `request` and `response` live until `done` ran.
  void Handle(const lenient::SessionRequest& request, registry::v1::SessionResponse& response, Done done);
  // The stream ended: a session it still holds waits for its grace.
  void Release();

 private:
  // Answers one register or deregister request: `results` gets one entry
  // per instance, `done` runs once the last one is answered.
  struct Batch;
  // Open and resume answer through the writer, a cluster node on its
  // follower's thread: the answer takes the session for the stream (Take),
  // or, when the stream was released meanwhile (cancelled while the answer
  // was awaited), leaves it in grace at once.
  void Open(const registry::v1::OpenSession& open, registry::v1::SessionOpened& opened, Done done);
  void Resume(const registry::v1::ResumeSession& resume, registry::v1::SessionOpened& opened, Done done);
  void Register(const lenient::SessionRegister& request, registry::v1::SessionInstances& results, Done done);
  void Deregister(const registry::v1::SessionDeregister& request, registry::v1::SessionInstances& results,
                  Done done);
  std::string_view identity() const { return caller_ ? caller_->identity() : std::string_view(); }
  // An open or resume answered: false when the stream was released first
  // (the session then waits for a resume).
  bool Take(SessionId session, SessionAttachment attachment, Duration ttl);

  RegistryWriter& writer_;
  auth::CallerRef caller_;
  std::string peer_;
  // Set by an answer on the writer's thread, read by Release on the
  // stream's: under handoff_mu_ (the stream's own requests read them after
  // the answer's wake, which orders them).
  std::mutex handoff_mu_;
  SessionId session_ = kNoSession;
  SessionAttachment attachment_ = 0;
  bool released_ = false;
  Duration ttl_{};
  bool closed_ = false;
};

}  // namespace registryd
