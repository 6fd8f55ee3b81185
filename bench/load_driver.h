// An asynchronous load generator on one completion queue: keeps
// `concurrency` operations in flight (closed loop), or starts them at a fixed
// rate (open loop, latency measured from each one's scheduled start so a slow
// server cannot hide its queueing), and records each one's latency and status.
// An operation is a unary call, or several steps (two calls in a row, a write
// and a read on a stream) under one tag.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/async_unary_call.h>
#include <grpcpp/support/byte_buffer.h>

#include "bench/authz_policy.h"

namespace registryd::bench {

using Clock = std::chrono::steady_clock;

// One operation in flight. Scenario code makes them; the driver owns them.
// Calls made on this thread get this deadline while it is set (RunLoad sets
// LoadOptions::call_timeout for the calls it makes); zero: none.
std::chrono::nanoseconds& CallTimeout();

class PendingCall {
 public:
  PendingCall() {
    if (!CallAuthorization().empty()) context.AddMetadata("authorization", CallAuthorization());
    if (CallTimeout() > std::chrono::nanoseconds::zero()) {
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(CallTimeout()));
    }
  }
  virtual ~PendingCall() = default;
  // The call's tag came back with `ok`: start the next step and return false,
  // or return true when the operation is over (`status` says how it went).
  virtual bool Proceed(bool /*ok*/) { return true; }
  // Runs on the driver's thread when the operation finished OK, before it is
  // freed.
  virtual void OnSuccess() {}

  grpc::ClientContext context;
  grpc::Status status;
  Clock::time_point started;
  int kind = 0;  // which operation, for scenarios that mix them
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

// A unary call whose reply stays serialized: parsing replies of hundreds of
// instances would make the one-thread client, not the server, the limit.
class PendingRawUnary : public PendingCall {
 public:
  // `method` is the full name, "/package.Service/Method".
  template <typename Request>
  void Begin(grpc::GenericStub& stub, const std::string& method, const Request& request,
             grpc::CompletionQueue* cq) {
    grpc::ByteBuffer request_bytes;
    bool own_buffer = false;
    status = grpc::SerializationTraits<Request>::Serialize(request, &request_bytes, &own_buffer);
    reader_ = stub.PrepareUnaryCall(&context, method, request_bytes, cq);
    reader_->StartCall();
    reader_->Finish(&reply, &status, this);
  }

  grpc::ByteBuffer reply;

 private:
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader_;
};

// Makes and starts call number `sequence` on `cq`; the tag must be the call.
using CallFactory = std::function<std::unique_ptr<PendingCall>(uint64_t sequence, grpc::CompletionQueue* cq)>;
// Ends the streams operations opened on `cq` once none is in flight; returns
// how many tags (PendingCalls the driver then frees) it started.
using StreamCloser = std::function<int(grpc::CompletionQueue* cq)>;

// A stretch of an open loop at one rate (calls per second; 0: none).
struct RateStep {
  std::chrono::nanoseconds length;
  double rate;
};

struct LoadOptions {
  int concurrency = 64;
  std::chrono::nanoseconds warmup{};
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  double rate = 0;          // calls per second; 0 = closed loop
  uint64_t max_calls = 0;   // stop after this many measured calls (0 = by duration)
  bool progress = false;    // a progress line every second on stderr
  bool keep_samples = false;  // also keep each measured call's start, latency and kind
  StreamCloser close_streams;
  // Set: an open loop at these rates one after the other (after the
  // warm-up, at `rate`); `duration` is their sum.
  std::vector<RateStep> rate_steps;
  // Every call gets this deadline (zero: none).
  std::chrono::nanoseconds call_timeout{0};
  // An open loop starts its calls in batches at least this far apart (zero:
  // each at its time). A client that starts tens of thousands of calls a
  // second one by one spends itself waking up: 1 ms makes its cost per call
  // a closed loop's, at up to 1 ms more latency.
  std::chrono::nanoseconds start_granularity{0};
  // Told of every operation that ended, on the driver's thread, before it is freed.
  std::function<void(const PendingCall&)> on_done;
  // Called once when the warm-up is over (within a wake of it): a scenario
  // whose warm-up costs what its measured part does not reads the server's
  // CPU here.
  std::function<void()> on_measuring;
};

struct Sample {
  float start_s;  // since measuring began
  uint32_t latency_us;
  int kind;
  int code;  // gRPC status code, 0 = OK
};

struct LoadResult {
  uint64_t calls = 0;  // measured (after warm-up)
  double seconds = 0;
  std::vector<uint32_t> latencies_us;  // of measured calls, sorted
  std::map<int, uint64_t> errors;      // by gRPC status code
  std::vector<Sample> samples;         // in completion order, if kept

  double CallsPerSecond() const { return seconds > 0 ? calls / seconds : 0; }
  double PercentileUs(double fraction) const;
  // The calls among `samples` that `keep` selects, as a result of their own
  // over `seconds`.
  template <typename Keep>
  LoadResult Select(Keep&& keep, double over_seconds) const {
    LoadResult part;
    part.seconds = over_seconds;
    for (const Sample& sample : samples) {
      if (!keep(sample)) continue;
      ++part.calls;
      part.latencies_us.push_back(sample.latency_us);
      if (sample.code != 0) ++part.errors[sample.code];
    }
    part.SortLatencies();
    return part;
  }
  void SortLatencies();
};

LoadResult RunLoad(const CallFactory& factory, const LoadOptions& options);

}  // namespace registryd::bench
