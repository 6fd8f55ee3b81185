// An asynchronous load generator on one completion queue: keeps
// `concurrency` unary calls in flight (closed loop), or starts calls at a
// fixed rate (open loop, latency measured from each call's scheduled start so
// a slow server cannot hide its queueing), and records each call's latency and
// status.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_unary_call.h>

namespace registryd::bench {

using Clock = std::chrono::steady_clock;

// One call in flight. Scenario code makes them; the driver owns them.
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  // Runs on the driver's thread when the call finished OK, before it is freed.
  virtual void OnSuccess() {}

  grpc::ClientContext context;
  grpc::Status status;
  Clock::time_point started;
};

template <typename Reply>
class PendingUnary : public PendingCall {
 public:
  // Starts the call: `start(context, cq)` is a stub's AsyncX bound to a request.
  template <typename Start>
  void Begin(Start&& start, grpc::CompletionQueue* cq) {
    reader_ = start(&context, cq);
    reader_->Finish(&reply, &status, this);
  }

  Reply reply;

 private:
  std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>> reader_;
};

// Makes and starts call number `sequence` on `cq`; the tag must be the call.
using CallFactory = std::function<std::unique_ptr<PendingCall>(uint64_t sequence, grpc::CompletionQueue* cq)>;

struct LoadOptions {
  int concurrency = 64;
  std::chrono::nanoseconds warmup{};
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  double rate = 0;          // calls per second; 0 = closed loop
  uint64_t max_calls = 0;   // stop after this many measured calls (0 = by duration)
  bool progress = false;    // a progress line every second on stderr
};

struct LoadResult {
  uint64_t calls = 0;  // measured (after warm-up)
  double seconds = 0;
  std::vector<uint32_t> latencies_us;  // of measured calls, sorted
  std::map<int, uint64_t> errors;      // by gRPC status code

  double CallsPerSecond() const { return seconds > 0 ? calls / seconds : 0; }
  double PercentileUs(double fraction) const;
};

LoadResult RunLoad(const CallFactory& factory, const LoadOptions& options);

}  // namespace registryd::bench
