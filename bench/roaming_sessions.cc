#include "bench/roaming_sessions.h"

#include <algorithm>

#include "bench/authz_policy.h"

namespace registryd::bench {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;

namespace {

constexpr size_t kInstancesPerRequest = 1000;  // SessionRegister's cap
constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kLastBackoff = std::chrono::seconds(1);

bool Retried(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::ABORTED;
}

}  // namespace

// One stream of a session. It lives until the tags of every operation
// started on it are back, after the session moved on to a new one.
struct RoamingSessions::Stream {
  size_t session = 0;
  grpc::ClientContext context;
  std::unique_ptr<ReaderWriter> rw;
  SessionRequest writing;                // kept until its write is done
  std::optional<SessionRequest> queued;  // to write after it
  bool write_pending = false;
  SessionResponse response;
  grpc::Status status;
  int pending = 0;      // operations whose tags are not back
  bool broken = false;  // an operation failed: Finish was called
};

struct RoamingSessions::Op {
  enum class Kind { kStart, kWrite, kRead, kFinish };
  Stream* stream;
  Kind kind;
};

RoamingSessions::RoamingSessions(const std::vector<std::vector<std::shared_ptr<grpc::Channel>>>& nodes,
                                 const Options& options)
    : options_(options), sessions_(options.sessions) {
  for (const auto& channels : nodes) {
    auto& stubs = stubs_.emplace_back();
    for (const auto& channel : channels) stubs.push_back(registry::v1::Registry::NewStub(channel));
  }
  thread_ = std::thread([this] { Loop(); });
}

RoamingSessions::~RoamingSessions() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [stream, owned] : streams_) stream->context.TryCancel();
  }
  thread_.join();
}

void RoamingSessions::Loop() {
  {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    for (size_t i = 0; i < sessions_.size(); ++i) {
      sessions_[i].opening_since = now;
      Connect(i);
    }
  }
  bool shut_down = false;
  for (;;) {
    Clock::time_point wake = Clock::now() + std::chrono::milliseconds(100);
    {
      std::lock_guard lock(mutex_);
      if (!timers_.empty()) wake = std::min(wake, timers_.top().when);
    }
    void* tag = nullptr;
    bool ok = false;
    const std::chrono::system_clock::time_point deadline =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                               std::max(wake - Clock::now(), Clock::duration::zero()));
    const grpc::CompletionQueue::NextStatus next = cq_.AsyncNext(&tag, &ok, deadline);
    if (next == grpc::CompletionQueue::SHUTDOWN) return;
    std::lock_guard lock(mutex_);
    if (next == grpc::CompletionQueue::GOT_EVENT) Complete(static_cast<Op*>(tag), ok);
    if (!stopping_) RunTimers(Clock::now());
    if (stopping_ && streams_.empty() && !shut_down) {
      cq_.Shutdown();
      shut_down = true;
    }
    changed_.notify_all();
  }
}

void RoamingSessions::Complete(Op* op, bool ok) {
  Stream& stream = *op->stream;
  const Op::Kind kind = op->kind;
  delete op;
  --stream.pending;
  switch (kind) {
    case Op::Kind::kStart:
      if (!ok) {
        Break(stream);
        break;
      }
      Read(stream);
      {
        Session& session = sessions_[stream.session];
        SessionRequest first;
        if (session.id == 0) {
          first.mutable_open()->set_ttl_ms(options_.ttl_ms);
          first.mutable_open()->set_grace_ms(options_.ttl_ms);
        } else {
          first.mutable_resume()->set_session_id(session.id);
          first.mutable_resume()->set_token(session.token);
        }
        session.awaiting = Awaiting::kOpened;
        Send(stream, std::move(first));
      }
      break;
    case Op::Kind::kWrite:
      stream.write_pending = false;
      if (!ok) {
        Break(stream);
      } else if (stream.queued) {
        SessionRequest next = *std::move(stream.queued);
        stream.queued.reset();
        Send(stream, std::move(next));
      }
      break;
    case Op::Kind::kRead:
      if (!ok) {
        Break(stream);
        break;
      }
      Answered(stream);
      if (!stream.broken) Read(stream);
      break;
    case Op::Kind::kFinish:
      Ended(stream);
      break;
  }
  if (stream.broken && stream.pending == 0) streams_.erase(&stream);
}

void RoamingSessions::Connect(size_t index) {
  Session& session = sessions_[index];
  const auto& stubs = stubs_[session.node];
  auto owned = std::make_unique<Stream>();
  Stream& stream = *owned;
  stream.session = index;
  if (!CallAuthorization().empty()) stream.context.AddMetadata("authorization", CallAuthorization());
  stream.rw = stubs[index % stubs.size()]->PrepareAsyncSession(&stream.context, &cq_);
  streams_.emplace(&stream, std::move(owned));
  session.stream = &stream;
  // A stream of an open session is a resume until it is answered: one that
  // fails before (a node that is down) is tried again after a backoff.
  session.resuming = session.outcome.opened_in.has_value();
  session.exchange_since = Clock::now();
  ++stream.pending;
  stream.rw->StartCall(new Op{&stream, Op::Kind::kStart});
}

void RoamingSessions::Read(Stream& stream) {
  ++stream.pending;
  stream.rw->Read(&stream.response, new Op{&stream, Op::Kind::kRead});
}

void RoamingSessions::Send(Stream& stream, SessionRequest request) {
  if (stream.write_pending) {  // gRPC takes one write at a time
    stream.queued = std::move(request);
    return;
  }
  stream.writing = std::move(request);
  stream.write_pending = true;
  ++stream.pending;
  stream.rw->Write(stream.writing, new Op{&stream, Op::Kind::kWrite});
}

void RoamingSessions::SendRegistrations(Session& session, Stream& stream) {
  const size_t index = stream.session;
  SessionRequest request;
  const size_t end = std::min(options_.instances, session.registered + kInstancesPerRequest);
  for (size_t n = session.registered; n < end; ++n) {
    auto* instance = request.mutable_register_()->add_instances();
    instance->set_service(options_.service);
    instance->set_instance_id(options_.instance_prefix + std::to_string(index) + "-" + std::to_string(n));
    instance->set_address("10.0.1." + std::to_string(n % 250 + 1) + ":" + std::to_string(1000 + index % 60000));
  }
  session.awaiting = Awaiting::kRegistered;
  session.exchange_since = Clock::now();
  Send(stream, std::move(request));
}

void RoamingSessions::Answered(Stream& stream) {
  Session& session = sessions_[stream.session];
  if (session.stream != &stream || session.given_up) return;
  const SessionResponse& response = stream.response;
  const Clock::time_point now = Clock::now();
  const auto period = std::chrono::milliseconds(options_.ttl_ms / 3);
  switch (session.awaiting) {
    case Awaiting::kOpened:
      if (!response.has_opened()) return GiveUp(session, grpc::StatusCode::INTERNAL, "no SessionOpened first");
      if (session.id == 0) {
        session.id = response.opened().session_id();
        session.token = response.opened().token();
        SendRegistrations(session, stream);
        return;
      }
      if (!response.opened().resumed()) return GiveUp(session, grpc::StatusCode::INTERNAL, "not resumed");
      session.resuming = false;
      session.attempts = 0;
      if (session.moved && !session.outcome.resumed_at) {
        session.outcome.resumed_at = now;
        session.outcome.resumed_instances = response.opened().instances();
      }
      break;
    case Awaiting::kRegistered:
      for (const auto& result : response.registered().results()) {
        if (result.code() != 0) return GiveUp(session, result.code(), result.message());
      }
      session.registered += static_cast<size_t>(response.registered().results_size());
      if (response.registered().results_size() == 0) {
        return GiveUp(session, grpc::StatusCode::INTERNAL, "a registration answered for no instance");
      }
      if (session.registered < options_.instances) {
        SendRegistrations(session, stream);
        return;
      }
      session.outcome.opened_in = std::chrono::duration_cast<std::chrono::microseconds>(now - session.opening_since);
      break;
    case Awaiting::kKeptAlive:
      if (!response.has_kept_alive()) return GiveUp(session, grpc::StatusCode::INTERNAL, "no SessionKeptAlive");
      ++session.outcome.keep_alives_answered;
      if (recording_) {
        recorded_.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - session.exchange_since).count()));
      }
      break;
    case Awaiting::kNothing:
      return GiveUp(session, grpc::StatusCode::INTERNAL, "an answer to no request");
  }
  session.awaiting = Awaiting::kNothing;
  Schedule(stream.session, now + period);
}

void RoamingSessions::Break(Stream& stream) {
  if (stream.broken) return;
  stream.broken = true;
  ++stream.pending;
  stream.rw->Finish(&stream.status, new Op{&stream, Op::Kind::kFinish});
}

void RoamingSessions::Ended(Stream& stream) {
  Session& session = sessions_[stream.session];
  if (session.stream != &stream) return;  // an earlier stream of the session
  session.stream = nullptr;
  if (stopping_ || session.given_up) return;
  const grpc::StatusCode code = stream.status.error_code();
  if (!session.outcome.opened_in) {
    return GiveUp(session, code == grpc::StatusCode::OK ? grpc::StatusCode::UNKNOWN : code,
                  "opening: " + stream.status.error_message());
  }
  if (!session.resuming) {  // an open stream broke: resume at once
    ++session.outcome.breaks;
    Schedule(stream.session, Clock::now());
    return;
  }
  if (!Retried(code)) {
    return GiveUp(session, code == grpc::StatusCode::OK ? grpc::StatusCode::UNKNOWN : code,
                  "resuming: " + stream.status.error_message());
  }
  ++retries_[code];
  const auto backoff = std::min<Clock::duration>(kFirstBackoff * (1 << std::min(session.attempts, 5)), kLastBackoff);
  ++session.attempts;
  Schedule(stream.session, Clock::now() + backoff);
}

void RoamingSessions::GiveUp(Session& session, int code, std::string message) {
  session.given_up = true;
  session.outcome.failure = code;
  session.outcome.failure_message = std::move(message);
  if (session.stream != nullptr) session.stream->context.TryCancel();
}

void RoamingSessions::Schedule(size_t index, Clock::time_point when) {
  timers_.push({when, index, ++sessions_[index].timer});
}

void RoamingSessions::RunTimers(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().when <= now) {
    const Timer timer = timers_.top();
    timers_.pop();
    Session& session = sessions_[timer.session];
    if (timer.serial != session.timer || session.given_up) continue;
    if (session.stream == nullptr) {
      Connect(timer.session);
    } else if (!session.stream->broken && session.awaiting == Awaiting::kNothing) {
      SessionRequest keep_alive;
      keep_alive.mutable_keep_alive();
      session.awaiting = Awaiting::kKeptAlive;
      session.exchange_since = now;
      ++session.outcome.keep_alives_sent;
      Send(*session.stream, std::move(keep_alive));
    }
  }
}

bool RoamingSessions::WaitOpened(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] {
    return std::all_of(sessions_.begin(), sessions_.end(),
                       [](const Session& session) { return session.outcome.opened_in || session.given_up; });
  });
  return std::all_of(sessions_.begin(), sessions_.end(),
                     [](const Session& session) { return session.outcome.opened_in && !session.given_up; });
}

std::vector<uint64_t> RoamingSessions::KeepAlivesSent() {
  std::lock_guard lock(mutex_);
  std::vector<uint64_t> sent;
  for (const Session& session : sessions_) sent.push_back(session.outcome.keep_alives_sent);
  return sent;
}

bool RoamingSessions::WaitKeepAlivesAnswered(const std::vector<uint64_t>& answered, Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] {
    for (size_t i = 0; i < sessions_.size(); ++i) {
      if (sessions_[i].outcome.keep_alives_answered < answered[i] && !sessions_[i].given_up) return false;
    }
    return true;
  });
}

void RoamingSessions::StartRecording() {
  std::lock_guard lock(mutex_);
  recorded_.clear();
  recording_ = true;
}

std::vector<uint32_t> RoamingSessions::TakeRecorded() {
  std::lock_guard lock(mutex_);
  recording_ = false;
  return std::move(recorded_);
}

void RoamingSessions::MoveOnBreak(const std::function<size_t(size_t session)>& node_of) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < sessions_.size(); ++i) {
    sessions_[i].node = node_of(i);
    sessions_[i].moved = true;
  }
}

bool RoamingSessions::WaitResumed(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] {
    return std::all_of(sessions_.begin(), sessions_.end(),
                       [](const Session& session) { return session.outcome.resumed_at || session.given_up; });
  });
  return std::all_of(sessions_.begin(), sessions_.end(),
                     [](const Session& session) { return session.outcome.resumed_at && !session.given_up; });
}

std::vector<RoamingSessions::Outcome> RoamingSessions::Outcomes() {
  std::lock_guard lock(mutex_);
  std::vector<Outcome> outcomes;
  for (const Session& session : sessions_) outcomes.push_back(session.outcome);
  return outcomes;
}

std::map<int, uint64_t> RoamingSessions::Retries() {
  std::lock_guard lock(mutex_);
  return retries_;
}

}  // namespace registryd::bench
