#include "bench/load_driver.h"

#include <algorithm>
#include <cstdio>

namespace registryd::bench {
namespace {

constexpr int kMaxStartsPerWake = 64;

// A steady-clock instant as a deadline for CompletionQueue::AsyncNext.
gpr_timespec Deadline(Clock::time_point when) {
  const auto from_now = std::max(when - Clock::now(), Clock::duration::zero());
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(std::chrono::nanoseconds(from_now).count(), GPR_TIMESPAN));
}

}  // namespace

std::chrono::nanoseconds& CallTimeout() {
  thread_local std::chrono::nanoseconds timeout{0};
  return timeout;
}

void LoadResult::SortLatencies() { std::sort(latencies_us.begin(), latencies_us.end()); }

double LoadResult::PercentileUs(double fraction) const {
  if (latencies_us.empty()) return 0;
  const auto index = static_cast<size_t>(fraction * static_cast<double>(latencies_us.size() - 1));
  return latencies_us[index];
}

LoadResult RunLoad(const CallFactory& factory, const LoadOptions& options) {
  grpc::CompletionQueue cq;
  LoadResult result;
  struct TimeoutScope {
    explicit TimeoutScope(std::chrono::nanoseconds timeout) { CallTimeout() = timeout; }
    ~TimeoutScope() { CallTimeout() = std::chrono::nanoseconds::zero(); }
  } timeout_scope(options.call_timeout);
  const bool open_loop = options.rate > 0 || !options.rate_steps.empty();
  // In an open loop, at most this many calls wait for the server at once.
  const int max_in_flight = open_loop ? std::max(options.concurrency, 10'000) : options.concurrency;

  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from = begin + options.warmup;
  std::chrono::nanoseconds steps_length{0};
  for (const RateStep& step : options.rate_steps) steps_length += step.length;
  const Clock::time_point end = measure_from + (options.rate_steps.empty() ? options.duration : steps_length);
  // An open loop's calls: where the next one goes from `at` (`at` itself if
  // its step has calls, else the start of the next step that has), and how
  // far apart they are there.
  const auto place = [&](Clock::time_point at) -> Clock::time_point {
    if (at < measure_from) {
      if (options.rate > 0) return at;
      at = measure_from;  // no warm-up calls
    }
    if (options.rate_steps.empty()) return at;
    Clock::time_point step_end = measure_from;
    for (const RateStep& step : options.rate_steps) {
      step_end += std::chrono::duration_cast<Clock::duration>(step.length);
      if (at < step_end) {
        if (step.rate > 0) return at;
        at = step_end;
      }
    }
    return end;
  };
  const auto interval_at = [&](Clock::time_point at) {
    double rate = options.rate;
    Clock::time_point step_end = measure_from;
    for (const RateStep& step : options.rate_steps) {
      if (at < measure_from) break;
      step_end += std::chrono::duration_cast<Clock::duration>(step.length);
      if (at < step_end) {
        rate = step.rate;
        break;
      }
    }
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  };
  Clock::time_point next_start = begin;
  Clock::time_point next_progress = begin + std::chrono::seconds(1);
  uint64_t sequence = 0;
  int in_flight = 0;
  bool stopping = false;
  bool measuring = false;

  const auto start_one = [&](Clock::time_point scheduled) {
    std::unique_ptr<PendingCall> call = factory(sequence++, &cq);
    call->started = scheduled;
    call.release();  // owned by the queue until its tag comes back
    ++in_flight;
  };
  const auto may_start = [&] {
    return !stopping && in_flight < max_in_flight &&
           (options.max_calls == 0 || result.calls + static_cast<uint64_t>(in_flight) < options.max_calls);
  };

  if (!open_loop) {
    while (may_start()) start_one(Clock::now());
  }
  while (in_flight > 0 || (open_loop && !stopping)) {
    if (open_loop) {
      const Clock::time_point now = Clock::now();
      // A bounded batch at a time, so that a client behind its schedule still
      // takes in the answers (and counts them when they come).
      next_start = place(next_start);
      for (int batch = 0; batch < kMaxStartsPerWake && next_start < end && may_start() && next_start <= now; ++batch) {
        start_one(next_start);
        next_start = place(next_start + interval_at(next_start));
      }
    }
    void* tag = nullptr;
    bool ok = false;
    // Behind: only take in what is there. Else sleep until the next start,
    // or the granularity, whichever is later (an answer wakes it sooner).
    Clock::time_point wait_until = end + std::chrono::seconds(60);
    if (open_loop) {
      const Clock::time_point now = Clock::now();
      wait_until = std::min(next_start <= now ? now : std::max(next_start, now + options.start_granularity), end);
    }
    if (open_loop && !measuring) wait_until = std::min(wait_until, measure_from);
    const grpc::CompletionQueue::NextStatus next = cq.AsyncNext(&tag, &ok, Deadline(wait_until));
    const Clock::time_point now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      if (options.on_measuring) options.on_measuring();
    }
    if (now >= end || (options.max_calls != 0 && result.calls >= options.max_calls)) stopping = true;
    if (next == grpc::CompletionQueue::SHUTDOWN) break;
    if (next == grpc::CompletionQueue::TIMEOUT) continue;

    if (!static_cast<PendingCall*>(tag)->Proceed(ok)) continue;  // a further step is under way
    std::unique_ptr<PendingCall> call(static_cast<PendingCall*>(tag));
    --in_flight;
    if (call->started >= measure_from && call->started < end) {
      ++result.calls;
      const auto latency_us = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - call->started).count());
      result.latencies_us.push_back(latency_us);
      if (!call->status.ok()) ++result.errors[call->status.error_code()];
      if (options.keep_samples) {
        result.samples.push_back({std::chrono::duration<float>(call->started - measure_from).count(), latency_us,
                                  call->kind, call->status.error_code()});
      }
    }
    if (call->status.ok()) call->OnSuccess();
    if (options.on_done) options.on_done(*call);
    if (options.progress && now >= next_progress) {
      std::fprintf(stderr, "  ... %llu calls measured\n", static_cast<unsigned long long>(result.calls));
      next_progress += std::chrono::seconds(1);
    }
    if (!open_loop && may_start()) start_one(Clock::now());
  }
  result.seconds = std::chrono::duration<double>(std::min(Clock::now(), end) - measure_from).count();
  if (options.max_calls != 0) {
    result.seconds = std::chrono::duration<double>(Clock::now() - measure_from).count();
  }
  void* tag = nullptr;
  bool ok = false;
  for (int closing = options.close_streams ? options.close_streams(&cq) : 0; closing > 0; --closing) {
    if (!cq.Next(&tag, &ok)) break;
    delete static_cast<PendingCall*>(tag);
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) delete static_cast<PendingCall*>(tag);
  result.SortLatencies();
  return result;
}

}  // namespace registryd::bench
