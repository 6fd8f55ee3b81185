// The CallData state machine every unary RPC runs on, on its queue's thread:
//
//   kAwaitingRequest --ok--> handle, Finish --> kAwaitingFinish --> reset,
//   request again --> kAwaitingRequest ...
//   kAwaitingRequest --!ok--> kIdle (the server is shutting down)
//
// An RPC that changes the registry (Rpc::kWrites) goes through the
// RegistryWriter, whose answer may come later, on another thread (a journal
// sync, an etcd commit): handle --> kAwaitingWrite (the answer sets the
// call's alarm) --> Finish --> kAwaitingFinish. An answer given at once
// finishes at once.
//
// The object is reused for call after call; only the ServerContext is made
// anew, because gRPC cannot reset one. While it waits for gRPC to send an
// answer (kAwaitingFinish), another object may wait for calls in its place
// (CallPool::CallAnswered). What an RPC does lives in its Rpc
// type (one file per RPC): the request method, and Handle(), which fills the
// reply from the registry and returns the status. An Rpc with kAuthorized
// gets the caller (null without a policy; core/access.h, auth/caller.h) and
// asks it before anything is read or changed; a caller that cannot be
// resolved (an unknown bearer token) is refused before Handle.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>

#include <grpcpp/alarm.h>

#include "auth/caller.h"
#include "core/registry.h"
#include "core/queue_event.h"
#include "metrics/thread_metrics.h"
#include "server/queue/call_pool.h"
#include "server/queue/rpc_done.h"
#include "server/queue/caller_cache.h"
#include "server/queue/renewal_probe_mark.h"
#include "server/queue/serving_queue.h"
#include "server/queue/status.h"

namespace registryd {

// Logs a call that ended with an error status, with the peer and the reason.
void LogFailedCall(std::string_view method, const grpc::ServerContext& context,
                   const grpc::Status& status);

// `Backend` is what Rpc::Handle works on: the registry, the writer, the
// health table.
template <typename Rpc, typename Backend = Registry>
class UnaryCall final : public QueueEvent {
 public:
  using Service = typename Rpc::Service;
  using Request = typename Rpc::Request;
  using Reply = typename Rpc::Reply;

  UnaryCall(Service& service, ServingQueue& queue, Backend& backend, CallPool<UnaryCall>& pool)
      : service_(service), queue_(queue), backend_(backend), pool_(pool) {}

  void RequestNext() {
    request_.Clear();
    reply_.Clear();
    responder_.reset();
    context_.emplace();
    responder_.emplace(&*context_);
    ServingQueue::StartGuard guard(queue_);
    if (!guard.accepting()) {
      if (state_ != State::kIdle) BecomeIdle();
      return;
    }
    if (state_ == State::kIdle) queue_.UnaryCallBusy();
    state_ = State::kAwaitingRequest;
    (service_.*Rpc::kRequest)(&*context_, &request_, &*responder_, queue_.cq(), queue_.cq(), this);
  }

  // Adds the call's peer if its answer was handed to gRPC before `before`
  // and is not sent yet (server/queue/unsent_answers.h).
  void AddPeerIfUnsentSince(std::chrono::steady_clock::time_point before, std::vector<std::string>& peers) const {
    if (state_ == State::kAwaitingFinish && answered_ < before) peers.push_back(context_->peer());
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kAwaitingRequest:
        if (!ok) {  // shutdown: no call was started, so no done tag will come
          BecomeIdle();
          return;
        }
        pool_.Arrived();
        arrived_ = std::chrono::steady_clock::now();
        if (queue_.CheckArrival(*context_, arrived_)) [[unlikely]] {
          Drop();
          return;
        }
        if constexpr (requires(const Request& request) { Rpc::MayBeRenewalProbe(request); }) {
          if (Rpc::MayBeRenewalProbe(request_) && IsRenewalProbe(*context_)) [[unlikely]] {
            Finish(Counted::kNo);  // answered as soon as it got here: what it measured is how long that took
            return;
          }
        }
        Respond();
        return;
      case State::kAwaitingWrite:
        Finish();
        return;
      case State::kAwaitingFinish:
        CallEnded();
        return;
      case State::kIdle:
        return;
    }
  }

 private:
  enum class State { kIdle, kAwaitingRequest, kAwaitingWrite, kAwaitingFinish };
  static constexpr size_t kMetricIndex = metrics::MethodIndex(Rpc::kName);
  static_assert(kMetricIndex < metrics::kMethods.size(), "every RPC is listed in metrics::kMethods");
  // Who is last of Handle's return and the writer's answer finishes the call.
  enum WritePhase : uint8_t { kHandling, kReturned, kAnswered };

  void Respond() {
    if constexpr (requires { Rpc::kAuthorized; }) {
      static const auth::CallerRef kNoPolicy;
      const auth::CallerRef* caller = &kNoPolicy;
      if (CallerCache* callers = queue_.callers()) {
        absl::StatusOr<const auth::CallerRef*> resolved = callers->Resolve(*context_);
        if (!resolved.ok()) {
          status_ = ToGrpcStatus(resolved.status());
          Finish();
          return;
        }
        caller = *resolved;
      }
      Handle(*caller);
    } else {
      Handle();
    }
  }

  // `caller...`: the caller, for an Rpc with kAuthorized.
  template <typename... Caller>
  void Handle(const Caller&... caller) {
    if constexpr (requires { Rpc::kWrites; }) {
      state_ = State::kAwaitingWrite;
      write_phase_.store(kHandling, std::memory_order_relaxed);
      Rpc::Handle(backend_, request_, reply_, caller..., [this](grpc::Status status) {
        status_ = std::move(status);
        if (write_phase_.exchange(kAnswered, std::memory_order_acq_rel) == kReturned) WakeOnQueue();
      });
      if (write_phase_.exchange(kReturned, std::memory_order_acq_rel) == kAnswered) {
        Finish();
      } else {
        pool_.CallWaits();
      }
    } else {
      status_ = Rpc::Handle(backend_, request_, reply_, caller...);
      Finish();
    }
  }

  // The answer came on another thread: finish on the queue's.
  void WakeOnQueue() {
    ServingQueue::StartGuard guard(queue_);
    if (guard.open()) {
      alarm_.Set(queue_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), this);
    } else {
      BecomeIdle();  // the queue is shutting down: gRPC ends the call
    }
  }

  // A call that came late past its deadline: its client has given up, so
  // nothing is read, changed or sent (expiry holds meanwhile: its lease
  // loses nothing). It is cancelled (most likely already, by its deadline)
  // and its context let go, which costs gRPC less than finishing it; in a
  // backlog, what waits behind it gets its turn sooner.
  void Drop() {
    metrics::ThreadMetrics& metrics = metrics::Local();
    metrics.calls_dropped_past_deadline.Add();
    metrics.Call(kMetricIndex, grpc::StatusCode::DEADLINE_EXCEEDED);  // what its client saw
    context_->TryCancel();
    CallEnded();
  }

  // The call is over: the object waits for the next one, or goes idle.
  void CallEnded() {
    if (pool_.Ended(*this)) {
      RequestNext();
    } else {
      GoIdle();
    }
  }

  void BecomeIdle() {
    state_ = State::kIdle;
    queue_.UnaryCallIdle();
  }

  // Between calls, kept by the pool: holds nothing of the last call.
  void GoIdle() {
    request_.Clear();
    reply_.Clear();
    responder_.reset();
    context_.reset();
    BecomeIdle();
  }

  // kNo: registryd's own renewal probe, which no metric or log counts.
  enum class Counted : bool { kNo, kYes };

  void Finish(Counted counted = Counted::kYes) {
    if (SendAnswer(counted)) pool_.CallAnswered();
  }

  // False: the queue is shutting down (gRPC ends the call).
  bool SendAnswer(Counted counted) {
    const grpc::Status& status = status_;
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) {
      BecomeIdle();
      return false;
    }
    state_ = State::kAwaitingFinish;
    if (counted == Counted::kNo) {
      answered_ = std::chrono::steady_clock::now();
      responder_->Finish(reply_, grpc::Status::OK, this);
      return true;
    }
    metrics::ThreadMetrics& metrics = metrics::Local();  // Finish runs on the queue's thread
    metrics.Call(kMetricIndex, status.error_code());
    answered_ = metrics::ObserveSince(metrics.handling[kMetricIndex], arrived_);
    if (status.ok()) {
      responder_->Finish(reply_, status, this);
    } else {
      LogFailedCall(Rpc::kName, *context_, status);
      responder_->FinishWithError(status, this);
    }
    return true;
  }

  Service& service_;
  ServingQueue& queue_;
  Backend& backend_;
  CallPool<UnaryCall>& pool_;
  State state_ = State::kIdle;
  std::atomic<WritePhase> write_phase_{kHandling};
  grpc::Alarm alarm_;      // the writer's answer came
  grpc::Status status_;
  std::chrono::steady_clock::time_point arrived_;
  std::chrono::steady_clock::time_point answered_;  // handed to gRPC
  std::optional<grpc::ServerContext> context_;
  std::optional<grpc::ServerAsyncResponseWriter<Reply>> responder_;
  Request request_;
  Reply reply_;
};

}  // namespace registryd
