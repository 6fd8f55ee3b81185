#include "server/queue/serving_queue.h"

#include <grpc/support/time.h>

namespace registryd {

namespace {

// gRPC's monotonic clock and steady_clock may differ by a constant.
Duration GrpcClockOffset() {
  const gpr_timespec grpc_now = gpr_now(GPR_CLOCK_MONOTONIC);
  return std::chrono::steady_clock::now().time_since_epoch() -
         (std::chrono::seconds(grpc_now.tv_sec) + std::chrono::nanoseconds(grpc_now.tv_nsec));
}

}  // namespace

ServingQueue::ServingQueue(uint32_t index, std::unique_ptr<grpc::ServerCompletionQueue> cq, Duration late_bound)
    : index_(index), cq_(std::move(cq)), late_bound_(late_bound), grpc_clock_offset_(GrpcClockOffset()) {}

gpr_timespec ServingQueue::OnGrpcMonotonicClock(gpr_timespec time) {
  return gpr_convert_clock_type(time, GPR_CLOCK_MONOTONIC);
}

ServingQueue::~ServingQueue() { ShutdownAndJoin(); }

void ServingQueue::set_callers(std::unique_ptr<CallerCache> callers) { callers_ = std::move(callers); }

void ServingQueue::Close(absl::FunctionRef<void()> cancel) {
  MutexLock lock(&mu_);
  accepting_ = false;
  for (const auto& [stream, at_close] : streams_) {
    if (at_close == AtClose::kCancel) stream->TryCancel();
  }
  cancel();
}

bool ServingQueue::AddStream(grpc::ServerContext* context, AtClose at_close) {
  MutexLock lock(&mu_);
  if (!accepting_) return false;
  streams_.emplace(context, at_close);
  return true;
}

void ServingQueue::RemoveStream(grpc::ServerContext* context) {
  MutexLock lock(&mu_);
  streams_.erase(context);
}

bool ServingQueue::Quiet() {
  MutexLock lock(&mu_);
  return !accepting_ && streams_.empty() && busy_unary_calls_.load(std::memory_order_acquire) == 0;
}

void ServingQueue::StartThread() {
  thread_ = std::thread([this] { Run(); });
}

void ServingQueue::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) {
    auto* event = static_cast<QueueEvent*>(tag);
    event->Acquire();
    event->Proceed(ok);
  }
}

void ServingQueue::ShutdownAndJoin() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(&mu_);
    open_ = false;
  }
  cq_->Shutdown();
  thread_.join();
}

}  // namespace registryd
