// The CallData state machine every unary RPC runs on, on its queue's thread:
//
//   kAwaitingRequest --ok--> handle, Finish --> kAwaitingFinish --> reset,
//   request again --> kAwaitingRequest ...
//   kAwaitingRequest --!ok--> kIdle (the server is shutting down)
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

#include "core/registry.h"
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

  UnaryCall(Service& service, ServingQueue& queue, Backend& backend)
      : service_(service), queue_(queue), backend_(backend) {}

  void RequestNext() {
    request_.Clear();
    reply_.Clear();
    responder_.reset();
    context_.emplace();
    responder_.emplace(&*context_);
    ServingQueue::StartGuard guard(queue_);
    if (!guard.accepting()) {
      state_ = State::kIdle;
      return;
    }
    state_ = State::kAwaitingRequest;
    (service_.*Rpc::kRequest)(&*context_, &request_, &*responder_, queue_.cq(), queue_.cq(), this);
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kAwaitingRequest:
        if (!ok) {  // shutdown: no call was started, so no done tag will come
          state_ = State::kIdle;
          return;
        }
        Respond();
        return;
      case State::kAwaitingFinish:
        RequestNext();
        return;
      case State::kIdle:
        return;
    }
  }

 private:
  enum class State { kIdle, kAwaitingRequest, kAwaitingFinish };

  void Respond() {
    const grpc::Status status = Rpc::Handle(backend_, request_, reply_);
    ServingQueue::StartGuard guard(queue_);
    if (!guard.open()) {  // the queue is shutting down: gRPC ends the call
      state_ = State::kIdle;
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
  State state_ = State::kIdle;
  std::optional<grpc::ServerContext> context_;
  std::optional<grpc::ServerAsyncResponseWriter<Reply>> responder_;
  Request request_;
  Reply reply_;
};

}  // namespace registryd
