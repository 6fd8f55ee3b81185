#include "bench/session_streams.h"

namespace registryd::bench {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;

// One request and its response on a session's stream, after the open or
// resume a new stream starts with.
class SessionStreams::Exchange final : public PendingCall {
 public:
  Exchange(SessionStreams& owner, Session& session, size_t index, grpc::CompletionQueue* cq, SessionRequest request)
      : owner_(owner), session_(session), index_(index), cq_(cq), request_(std::move(request)) {}
  // The session's next exchange starts once this one is over.
  ~Exchange() override {
    session_.in_flight = false;
    if (session_.waiting.empty()) return;
    Exchange* next = session_.waiting.front();
    session_.waiting.pop_front();
    next->Begin();
  }

  void Begin() {
    session_.in_flight = true;
    if (session_.stream && session_.stream->finished) session_.stream.reset();
    if (session_.stream) {
      Send(request_, Step::kRequest);
      return;
    }
    auto stream = std::make_unique<Stream>();
    if (!CallAuthorization().empty()) stream->context.AddMetadata("authorization", CallAuthorization());
    stream->stream = owner_.stubs_[index_ % owner_.stubs_.size()]->PrepareAsyncSession(&stream->context, cq_);
    session_.stream = std::move(stream);
    step_ = Step::kStarted;
    session_.stream->stream->StartCall(this);
  }

  bool Proceed(bool ok) override {
    if (!ok) {  // the stream ended: its status comes with Finish
      if (step_ == Step::kFinished) return true;
      step_ = Step::kFinished;
      session_.stream->finished = true;
      session_.stream->stream->Finish(&status, this);
      return false;
    }
    switch (step_) {
      case Step::kStarted: {
        SessionRequest first;
        if (session_.id == 0) {
          first.mutable_open()->set_ttl_ms(owner_.ttl_ms_);
          if (owner_.grace_ms_) first.mutable_open()->set_grace_ms(*owner_.grace_ms_);
        } else {
          first.mutable_resume()->set_session_id(session_.id);
          first.mutable_resume()->set_token(session_.token);
        }
        Send(first, Step::kOpening);
        return false;
      }
      case Step::kOpening:
      case Step::kRequest:
        step_ = step_ == Step::kOpening ? Step::kOpened : Step::kAnswered;
        session_.stream->stream->Read(&response_, this);
        return false;
      case Step::kOpened:
        if (!response_.has_opened()) return Fail("no SessionOpened first");
        session_.id = response_.opened().session_id();
        if (!response_.opened().resumed()) session_.token = response_.opened().token();  // a resume sends none
        Send(request_, Step::kRequest);
        return false;
      case Step::kAnswered:
        status = Check();
        return true;
      case Step::kFinished:
        if (status.ok()) status = grpc::Status(grpc::StatusCode::UNKNOWN, "the session stream ended");
        return true;
    }
    return true;
  }

 private:
  enum class Step { kStarted, kOpening, kOpened, kRequest, kAnswered, kFinished };

  void Send(const SessionRequest& request, Step step) {
    step_ = step;
    session_.stream->stream->Write(request, this);
  }

  bool Fail(const std::string& message) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, message);
    return true;
  }

  // Every instance of a registration must have been taken.
  grpc::Status Check() const {
    for (const auto& result : response_.registered().results()) {
      if (result.code() != 0) return grpc::Status(static_cast<grpc::StatusCode>(result.code()), result.message());
    }
    if (response_.kind_case() == SessionResponse::KIND_NOT_SET) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "an empty SessionResponse");
    }
    return grpc::Status::OK;
  }

  SessionStreams& owner_;
  Session& session_;
  size_t index_;
  grpc::CompletionQueue* cq_;
  SessionRequest request_;
  SessionResponse response_;
  Step step_ = Step::kRequest;
};

SessionStreams::SessionStreams(const Connections& connections, size_t sessions, uint32_t ttl_ms,
                               std::optional<uint32_t> grace_ms)
    : ttl_ms_(ttl_ms), grace_ms_(grace_ms), sessions_(sessions) {
  for (const auto& channel : connections.channels()) stubs_.push_back(registry::v1::Registry::NewStub(channel));
}

std::unique_ptr<PendingCall> SessionStreams::Start(size_t index, grpc::CompletionQueue* cq, SessionRequest request) {
  if (cq != cq_) {  // a new run: the previous run closed its streams
    for (Session& session : sessions_) session.stream.reset();
    cq_ = cq;
  }
  index %= sessions_.size();
  Session& session = sessions_[index];
  auto exchange = std::make_unique<Exchange>(*this, session, index, cq, std::move(request));
  if (session.in_flight) {
    session.waiting.push_back(exchange.get());  // the driver owns it meanwhile
  } else {
    exchange->Begin();
  }
  return exchange;
}

int SessionStreams::Close(grpc::CompletionQueue* cq) {
  if (cq != cq_) return 0;
  int started = 0;
  for (Session& session : sessions_) {
    if (!session.stream || session.stream->finished) continue;
    session.stream->context.TryCancel();
    session.stream->stream->Finish(&session.stream->finish_status, new PendingCall);
    ++started;
  }
  cq_ = nullptr;  // the streams go at the next run's first Start
  return started;
}

}  // namespace registryd::bench
