// Micro-benchmarks of the core without the network, so a regression shows
// before the network's cost hides it. Run: build/bench/core_bench
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <string>
#include <vector>

#include "core/receive_backlog.h"
#include "core/registry.h"
#include "core/timer_wheel.h"
#include "persist/stored_records.h"
#include "registry/v1/registry.pb.h"
#include "server/rpcs/native_rpcs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

RegisterSpec Spec(std::string service, int instance) {
  RegisterSpec spec;
  spec.service = std::move(service);
  spec.instance_id = "instance-" + std::to_string(instance);
  spec.host = "10.0.0.1";
  spec.port = static_cast<uint16_t>(1 + instance % 60000);
  spec.ttl = seconds(60);
  return spec;
}

void BM_WheelSchedule(benchmark::State& state) {
  ManualClock clock;
  TimerWheel wheel(clock.Now(), milliseconds(100), 1024);
  uint64_t entry = 0;
  for (auto _ : state) {
    ++entry;
    wheel.Schedule(entry, clock.Now() + milliseconds(entry % 60'000));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WheelSchedule);

// Every entry comes due renewed and is filed again: the wheel's steady-state
// work for leases that keep heartbeating.
void BM_WheelAdvanceRenewed(benchmark::State& state) {
  const auto entries = static_cast<uint64_t>(state.range(0));
  ManualClock clock;
  TimerWheel wheel(clock.Now(), milliseconds(100), 1024);
  for (uint64_t i = 0; i < entries; ++i) wheel.Schedule(i, clock.Now() + milliseconds(100));
  TimePoint deadline = clock.Now() + milliseconds(100);
  for (auto _ : state) {
    clock.Advance(milliseconds(100));
    deadline += milliseconds(100);
    wheel.Advance(
        clock.Now(), entries,
        [&](uint64_t) { return TimerWheel::Verdict{TimerWheel::Verdict::kRenewed, deadline}; },
        [](uint64_t) {});
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(entries));
}
BENCHMARK(BM_WheelAdvanceRenewed)->Arg(1'000)->Arg(100'000);

void BM_RegistryRegisterDeregister(benchmark::State& state) {
  ManualClock clock;
  Registry registry(RegistryOptions{}, clock);
  int instance = 0;
  for (auto _ : state) {
    const absl::StatusOr<RegisterResult> result = registry.Register(Spec("svc", ++instance));
    benchmark::DoNotOptimize(registry.Deregister(result->lease));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryRegisterDeregister);

void BM_RegistryHeartbeat(benchmark::State& state) {
  const auto leases = static_cast<size_t>(state.range(0));
  ManualClock clock;
  RegistryOptions options;
  options.max_instances = leases;
  Registry registry(options, clock);
  std::vector<LeaseId> ids;
  for (size_t i = 0; i < leases; ++i) {
    ids.push_back(registry.Register(Spec("svc-" + std::to_string(i % 100), static_cast<int>(i)))->lease);
  }
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(registry.Heartbeat(ids[next], false));
    if (++next == ids.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryHeartbeat)->Arg(10'000)->Arg(1'000'000);

void BM_LeaseIdRouting(benchmark::State& state) {
  uint32_t shard = 0;
  for (auto _ : state) {
    const LeaseId lease = NewLeaseId(shard);
    shard = ShardOfLease(lease, 16) ^ 1;
    benchmark::DoNotOptimize(shard);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LeaseIdRouting);

// Discover of one service of N instances: the registry walk alone, then the
// whole reply as the RPC builds it.
void BM_RegistryDiscover(benchmark::State& state) {
  ManualClock clock;
  Registry registry(RegistryOptions{}, clock);
  for (int i = 0; i < state.range(0); ++i) (void)registry.Register(Spec("svc", i));
  for (auto _ : state) {
    size_t visited = 0;
    registry.Discover("svc", false, [&](const InstanceRecord&) { ++visited; });
    benchmark::DoNotOptimize(visited);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RegistryDiscover)->Arg(10)->Arg(100)->Arg(1'000);

// Bytes malloc has handed out: small chunks, and the large blocks it maps
// on its own (the indexes' arrays), with malloc's own overhead.
size_t HeapBytesInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Heap bytes the registry holds per live lease, beside registry_bench's RSS
// per lease: exact and repeatable.
void BM_MemoryPerLease(benchmark::State& state) {
  const auto leases = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    const size_t before = HeapBytesInUse();
    ManualClock clock;
    auto registry = std::make_unique<Registry>(RegistryOptions{}, clock);
    for (size_t i = 0; i < leases; ++i) {
      (void)registry->Register(Spec("bench-" + std::to_string(i % 100), static_cast<int>(i)));
    }
    state.counters["bytes_per_lease"] =
        static_cast<double>(HeapBytesInUse() - before) / static_cast<double>(leases);
  }
}
BENCHMARK(BM_MemoryPerLease)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The Discover RPC's reply: built and serialized (a cache that keeps
// nothing), or taken from its queue's cache.
void DiscoverReply(benchmark::State& state, size_t cache_bytes) {
  ManualClock clock;
  Registry registry(RegistryOptions{}, clock);
  for (int i = 0; i < state.range(0); ++i) (void)registry.Register(Spec("svc", i));
  DiscoverBackend backend{registry, DiscoverReplyCache(seconds(1), cache_bytes)};
  lenient::DiscoverRequest request;
  request.set_service("svc");
  for (auto _ : state) {
    grpc::ByteBuffer reply;
    benchmark::DoNotOptimize(DiscoverRpc::Handle(backend, request, reply, auth::CallerRef()));
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
void BM_DiscoverReplyBuilt(benchmark::State& state) { DiscoverReply(state, 0); }
BENCHMARK(BM_DiscoverReplyBuilt)->Arg(10)->Arg(100)->Arg(1'000);
void BM_DiscoverReplyCached(benchmark::State& state) { DiscoverReply(state, 1 << 20); }
BENCHMARK(BM_DiscoverReplyCached)->Arg(10)->Arg(100)->Arg(1'000);

// A data dir snapshot of N instances: the visit and the records, as the
// journal writes them. A shard's lock is held for one slice of
// Registry::kVisitSlice records at a time, so the time per item times the
// slice is the longest a snapshot holds a lock.
void BM_SnapshotRecords(benchmark::State& state) {
  ManualClock clock;
  Registry registry(RegistryOptions{}, clock);
  for (int i = 0; i < state.range(0); ++i) (void)registry.Register(Spec("bench-" + std::to_string(i % 100), i));
  for (auto _ : state) {
    std::string bytes;
    registry.VisitAll([&](std::string_view service, const InstanceRecord& instance) {
      AppendInstanceFrames(bytes, service, instance);
    });
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SnapshotRecords)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// One sample of the kernel's receive queues for a port (the overload
// detector's, every --stall-threshold): its cost is the kernel's walk of
// its TCP table, whatever the port's connections.
void BM_ReceiveBacklogSample(benchmark::State& state) {
  ReceiveBacklog backlog(1);
  for (auto _ : state) {
    absl::StatusOr<BacklogSample> sample = backlog.Sample(std::chrono::steady_clock::now());
    if (!sample.ok()) {
      state.SkipWithError(std::string(sample.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(sample->oldest);
  }
}
BENCHMARK(BM_ReceiveBacklogSample)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace registryd

BENCHMARK_MAIN();
