// The CallData state machine every unary RPC runs on, on its queue's thread:
//
//   kAwaitingRequest --ok--> handle, Finish --> kAwaitingFinish --> reset,
//   request again --> kAwaitingRequest ...
//   kAwaitingRequest --!ok--> kIdle (the server is shutting down)
//
// Under --fsync=always an RPC that changes the registry (Rpc::kDurable)
// answers only once its change is synced: handle --> kAwaitingSync (the
// journal sets the call's alarm when it is) --> Finish --> kAwaitingFinish.
//
// The object is reused for call after call; only the ServerContext is made
// anew, because gRPC cannot reset one. What an RPC does lives in its Rpc
// type (one file per RPC): the request method, and Handle(), which fills the
// reply from the registry and returns the status.
#pragma once

#include <optional>
#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>

#include <grpcpp/alarm.h>

#include "core/registry.h"
#include "persist/journal.h"
#include "server/queue_event.h"
#include "server/serving_queue.h"

namespace registryd {

// Logs a call that ended with an error status, with the peer and the reason.
void LogFailedCall(std::string_view method, const grpc::ServerContext& context,
                   const grpc::Status& status);

// `Backend` is what Rpc::Handle works on: the registry, or for the
// benchmark's constant-reply ceiling server, nothing that matters.
template <typename Rpc, typename Backend = Registry>
class UnaryCall final : public QueueEvent {
 public:
  using Service = typename Rpc::Service;
  using Request = typename Rpc::Request;
  using Reply = typename Rpc::Reply;

  // `synced_writes`: the journal to wait for under --fsync=always, else null.
  UnaryCall(Service& service, ServingQueue& queue, Backend& backend, Journal* synced_writes = nullptr)
      : service_(service), queue_(queue), backend_(backend), synced_writes_(synced_writes) {}

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

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kAwaitingRequest:
        if (!ok) {  // shutdown: no call was started, so no done tag will come
          BecomeIdle();
          return;
        }
        Respond();
        return;
      case State::kAwaitingSync:
        Finish();
        return;
      case State::kAwaitingFinish:
        RequestNext();
        return;
      case State::kIdle:
        return;
    }
  }

 private:
  enum class State { kIdle, kAwaitingRequest, kAwaitingSync, kAwaitingFinish };

  void Respond() {
    status_ = Rpc::Handle(backend_, request_, reply_);
    if constexpr (requires { Rpc::kDurable; } && std::is_same_v<Backend, Registry>) {
      if (status_.ok() && synced_writes_ != nullptr) {
        state_ = State::kAwaitingSync;
        // The registry's revision now covers this call's change (and perhaps later ones).
        synced_writes_->WhenDurable(backend_.Revision(), [this](bool durable) {
          if (!durable) {
            status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the change is made but could not be written to the data dir; it may not "
                                   "survive a restart");
          }
          ServingQueue::StartGuard guard(queue_);
          if (guard.open()) {
            alarm_.Set(queue_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), this);
          } else {
            BecomeIdle();  // the queue is shutting down: gRPC ends the call
          }
        });
        return;
      }
    }
    Finish();
  }

  void BecomeIdle() {
    state_ = State::kIdle;
    queue_.UnaryCallIdle();
  }

  void Finish() {
    const grpc::Status& status = status_;
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) {  // the queue is shutting down: gRPC ends the call
      BecomeIdle();
      return;
    }
    state_ = State::kAwaitingFinish;
    if (status.ok()) {
      responder_->Finish(reply_, status, this);
    } else {
      LogFailedCall(Rpc::kName, *context_, status);
      responder_->FinishWithError(status, this);
    }
  }

  Service& service_;
  ServingQueue& queue_;
  Backend& backend_;
  Journal* const synced_writes_;
  State state_ = State::kIdle;
  grpc::Alarm alarm_;      // the journal's word that the change is synced
  grpc::Status status_;
  std::optional<grpc::ServerContext> context_;
  std::optional<grpc::ServerAsyncResponseWriter<Reply>> responder_;
  Request request_;
  Reply reply_;
};

}  // namespace registryd
