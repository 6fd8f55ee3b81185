#include "server/streams/session_stream.h"

#include <fmt/core.h>

#include "core/log.h"
#include "server/queue/status.h"
#include "server/queue/wire_millis.h"
#include "server/rpcs/native_rpcs.h"

namespace registryd {
namespace {

grpc::Status InvalidArgument(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

void SetError(registry::v1::InstanceResult& result, const absl::Status& status) {
  result.set_code(static_cast<int32_t>(status.code()));
  result.set_message(std::string(status.message()));
}

}  // namespace

// The results of one request, filled by writer answers on any thread; the
// last answer runs `done`.
struct SessionStream::Batch {
  Batch(registry::v1::SessionInstances& results, int count, Done done)
      : results(results), left(count + 1), done(std::move(done)) {}
  // One answer in (or the request's own turn, which starts at 1 so that no
  // answer can finish the batch before every instance was asked).
  static void Answered(const std::shared_ptr<Batch>& batch) {
    if (batch->left.fetch_sub(1, std::memory_order_acq_rel) == 1) std::move(batch->done)(grpc::Status::OK);
  }
  registry::v1::SessionInstances& results;
  std::atomic<int> left;
  Done done;
};

void SessionStream::Handle(const lenient::SessionRequest& request, registry::v1::SessionResponse& response,
                           Done done) {
  response.Clear();
  response.set_request_id(request.request_id());
  using Kind = lenient::SessionRequest::KindCase;
  if (session_ == kNoSession) {
    switch (request.kind_case()) {
      case Kind::kOpen:
        Open(request.open(), *response.mutable_opened(), std::move(done));
        return;
      case Kind::kResume:
        Resume(request.resume(), *response.mutable_opened(), std::move(done));
        return;
      default:
        std::move(done)(InvalidArgument("the first request of a session stream must open or resume a session"));
        return;
    }
  }
  if (request.kind_case() == Kind::kOpen || request.kind_case() == Kind::kResume) {
    std::move(done)(InvalidArgument(fmt::format("this stream holds session {:016x} already", session_)));
    return;
  }
  // Any request refreshes the session; one that expired or moved to another
  // stream ends this one.
  if (absl::Status refreshed = writer_.RefreshSession(session_, attachment_); !refreshed.ok()) {
    if (refreshed.code() != absl::StatusCode::kAborted) session_ = kNoSession;
    closed_ = true;  // nothing to leave in grace
    std::move(done)(ToGrpcStatus(refreshed));
    return;
  }
  switch (request.kind_case()) {
    case Kind::kRegister:
      Register(request.register_(), *response.mutable_registered(), std::move(done));
      return;
    case Kind::kDeregister:
      Deregister(request.deregister(), *response.mutable_deregistered(), std::move(done));
      return;
    case Kind::kKeepAlive:
      response.mutable_kept_alive()->set_ttl_ms(ToWireMillis(ttl_));
      std::move(done)(grpc::Status::OK);
      return;
    case Kind::kClose:
      closed_ = true;
      writer_.CloseSession(session_, attachment_,
                           [&response, done = std::move(done)](absl::StatusOr<SessionId> closed) mutable {
                             if (closed.ok()) {
                               log::Debug("session {:016x} closed by its client", *closed);
                               response.mutable_closed();
                             }
                             std::move(done)(ToGrpcStatus(closed.status()));
                           });
      return;
    default:
      std::move(done)(InvalidArgument("a session request must set one of open, resume, register, deregister, "
                                      "keep_alive or close"));
      return;
  }
}

void SessionStream::Open(const registry::v1::OpenSession& open, registry::v1::SessionOpened& opened, Done done) {
  const Registry& registry = writer_.registry();
  const Duration ttl = registry.GrantTtl(std::chrono::milliseconds(open.ttl_ms()));
  const Duration grace = open.has_grace_ms() ? Duration(std::chrono::milliseconds(open.grace_ms())) : ttl;
  if (grace > ttl) {
    std::move(done)(InvalidArgument(fmt::format("open.grace_ms ({}) must be at most the session's TTL ({} ms)",
                                                open.grace_ms(), ToWireMillis(ttl))));
    return;
  }
  writer_.OpenSession(
      SessionSpec{ttl, grace, std::string(identity()), peer_},
      [this, &opened, ttl, grace, done = std::move(done)](absl::StatusOr<OpenedSession> session) mutable {
        if (!session.ok()) {
          std::move(done)(ToGrpcStatus(session.status()));
          return;
        }
        if (!Take(session->id, session->attachment, ttl)) {
          std::move(done)(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended"));
          return;
        }
        opened.set_session_id(session->id);
        opened.set_token(std::string(reinterpret_cast<const char*>(session->token.data()), session->token.size()));
        opened.set_ttl_ms(ToWireMillis(ttl));
        opened.set_grace_ms(ToWireMillis(grace));
        log::Debug("session {:016x} opened (TTL {} ms, grace {} ms)", session->id, ToWireMillis(ttl),
                   ToWireMillis(grace));
        std::move(done)(grpc::Status::OK);
      });
}

void SessionStream::Resume(const registry::v1::ResumeSession& resume, registry::v1::SessionOpened& opened,
                           Done done) {
  SessionToken token;
  if (resume.token().size() != token.size()) {
    std::move(done)(InvalidArgument(fmt::format("resume.token: must be the {} bytes the session was opened with (got {})",
                                                token.size(), resume.token().size())));
    return;
  }
  std::copy(resume.token().begin(), resume.token().end(), token.begin());
  writer_.ResumeSession(
      resume.session_id(), token, std::string(identity()), peer_,
      [this, &opened, id = resume.session_id(), done = std::move(done)](absl::StatusOr<ResumedSession> resumed) mutable {
        if (!resumed.ok()) {
          std::move(done)(ToGrpcStatus(resumed.status()));
          return;
        }
        if (!Take(id, resumed->attachment, resumed->ttl)) {
          std::move(done)(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended"));
          return;
        }
        opened.set_session_id(id);
        opened.set_ttl_ms(ToWireMillis(resumed->ttl));
        opened.set_grace_ms(ToWireMillis(resumed->grace));
        opened.set_instances(static_cast<uint32_t>(resumed->instances));
        opened.set_resumed(true);
        log::Debug("session {:016x} resumed with {} instance(s)", id, resumed->instances);
        std::move(done)(grpc::Status::OK);
      });
}

void SessionStream::Register(const lenient::SessionRegister& request, registry::v1::SessionInstances& results,
                             Done done) {
  const int count = request.instances_size();
  if (count > kMaxInstancesPerRequest) {
    std::move(done)(InvalidArgument(fmt::format("register.instances: at most {} per request (got {})",
                                                kMaxInstancesPerRequest, count)));
    return;
  }
  for (int i = 0; i < count; ++i) results.add_results();
  auto batch = std::make_shared<Batch>(results, count, std::move(done));
  for (int i = 0; i < count; ++i) {
    const lenient::RegisterRequest& instance = request.instances(i);
    registry::v1::InstanceResult& result = *results.mutable_results(i);
    absl::StatusOr<RegisterSpec> spec = RegisterSpecOf(writer_.registry(), instance);
    if (!spec.ok()) {
      result.set_instance_id(instance.instance_id());
      SetError(result, spec.status());
      Batch::Answered(batch);
      continue;
    }
    spec->ttl = ttl_;
    spec->session = session_;
    spec->session_attachment = attachment_;
    writer_.Register(*std::move(spec), caller_,
                     [batch, &instance, &result, auditor = auth::AuditorOf(caller_)](
                         absl::StatusOr<RegisterResult> registered) mutable {
                       if (auditor) {
                         auditor->Audit("register", instance.service(),
                                        registered.ok() ? registered->instance_id : instance.instance_id(),
                                        registered.status());
                       }
                       if (registered.ok()) {
                         result.set_lease_id(registered->lease);
                         result.set_instance_id(std::move(registered->instance_id));
                       } else {
                         result.set_instance_id(instance.instance_id());
                         SetError(result, registered.status());
                       }
                       Batch::Answered(batch);
                     });
  }
  Batch::Answered(batch);
}

void SessionStream::Deregister(const registry::v1::SessionDeregister& request, registry::v1::SessionInstances& results,
                               Done done) {
  const int count = request.lease_ids_size();
  if (count > kMaxInstancesPerRequest) {
    std::move(done)(InvalidArgument(fmt::format("deregister.lease_ids: at most {} per request (got {})",
                                                kMaxInstancesPerRequest, count)));
    return;
  }
  for (int i = 0; i < count; ++i) results.add_results()->set_lease_id(request.lease_ids(i));
  auto batch = std::make_shared<Batch>(results, count, std::move(done));
  for (int i = 0; i < count; ++i) {
    const LeaseId lease = request.lease_ids(i);
    registry::v1::InstanceResult& result = *results.mutable_results(i);
    if (!writer_.registry().sessions().Holds(session_, lease)) {
      SetError(result, absl::NotFoundError(fmt::format("lease {:016x} is not in this session", lease)));
      Batch::Answered(batch);
      continue;
    }
    writer_.Deregister(lease, caller_, [batch, &result, auditor = auth::AuditorOf(caller_)](
                                           absl::StatusOr<Removal> removed) mutable {
      if (auditor && removed.ok()) auditor->Audit("deregister", removed->service, removed->instance_id, removed.status());
      if (removed.ok()) {
        result.set_instance_id(removed->instance_id);
      } else {
        SetError(result, removed.status());
      }
      Batch::Answered(batch);
    });
  }
  Batch::Answered(batch);
}

bool SessionStream::Take(SessionId session, SessionAttachment attachment, Duration ttl) {
  {
    std::lock_guard<std::mutex> lock(handoff_mu_);
    if (!released_) {
      session_ = session;
      attachment_ = attachment;
      ttl_ = ttl;
      return true;
    }
  }
  writer_.registry().BreakSession(session, attachment);
  log::Debug("session {:016x}: its stream ended before it was answered; it waits for a resume", session);
  return false;
}

void SessionStream::Release() {
  SessionId session;
  SessionAttachment attachment;
  {
    std::lock_guard<std::mutex> lock(handoff_mu_);
    released_ = true;
    session = session_;
    attachment = attachment_;
  }
  if (session == kNoSession || closed_) return;
  writer_.registry().BreakSession(session, attachment);
  log::Debug("session {:016x}: its stream ended; it waits for a resume", session);
}

}  // namespace registryd
