// What registryd counts on its hot paths, kept per thread and summed when
// scraped: a call, a heartbeat or a watch event costs its thread a plain
// add to a cache line no other thread writes, never a shared atomic.
//
// Each thread that records gets its own ThreadMetrics on first use; when the
// thread ends, its counts move into the process's retired totals, so counts
// never go back.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "metrics/local_counter.h"
#include "metrics/local_histogram.h"

namespace registryd::metrics {

// Every gRPC method registryd serves, by full name.
inline constexpr std::array<std::string_view, 18> kMethods = {
    "registry.v1.Registry/Register",
    "registry.v1.Registry/Heartbeat",
    "registry.v1.Registry/Deregister",
    "registry.v1.Registry/Discover",
    "registry.v1.Registry/ListServices",
    "registry.v1.Registry/Watch",
    "registry.v1.Registry/KeepAlive",
    "registry.v1.Registry/Session",
    "registry.v1.Registry/ListSessions",
    "registry_service.RegistryService/discovery",
    "registry_service.RegistryService/heartBeat",
    "discovery_service.DiscoveryService/findServer",
    "discovery_service.DiscoveryService/warnServerError",
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "registryd.cluster.Peer/Renew",
    "registryd.cluster.Peer/Status",
    "envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
};

// The index of a method in kMethods; kMethods.size() when it is not there.
constexpr size_t MethodIndex(std::string_view full_name) {
  for (size_t index = 0; index < kMethods.size(); ++index) {
    if (kMethods[index] == full_name) return index;
  }
  return kMethods.size();
}

inline constexpr size_t kStatusCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

enum class HeartbeatApi : uint8_t { kNative, kKeepAlive, kSeed, kForwarded };
inline constexpr std::array<std::string_view, 4> kHeartbeatApis = {"native", "keepalive", "seed", "forwarded"};

enum class StreamKind : uint8_t { kWatch, kKeepAlive, kHealthWatch, kAds, kSession };
inline constexpr std::array<std::string_view, 5> kStreamKinds = {"watch", "keepalive", "health_watch", "ads",
                                                                 "session"};

// xDS resource types, in xds::ResourceType's order.
inline constexpr std::array<std::string_view, 4> kXdsTypeNames = {"listener", "route_configuration", "cluster",
                                                                  "cluster_load_assignment"};
inline constexpr size_t kXdsTypes = kXdsTypeNames.size();

// The DNS face's queries: by the type asked and the answer's code ("nodata":
// NOERROR without an answer; "dropped": no answer sent).
inline constexpr std::array<std::string_view, 7> kDnsTypes = {"A", "AAAA", "SRV", "TXT", "SOA", "ANY", "other"};
inline constexpr std::array<std::string_view, 7> kDnsAnswers = {"noerror", "nodata",  "nxdomain", "refused",
                                                                 "formerr", "notimp", "dropped"};

// Durations in nanoseconds, exposed in seconds: 25 µs .. 2.5 s.
inline constexpr std::array<uint64_t, 16> kDurationBoundsNs = {
    25'000,     50'000,     100'000,     250'000,     500'000,     1'000'000,     2'500'000,     5'000'000,
    10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000};
inline constexpr Buckets kDurationBuckets{kDurationBoundsNs, 1e9};

// Writes per etcd Txn.
inline constexpr std::array<uint64_t, 11> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
inline constexpr Buckets kBatchBuckets{kBatchBounds, 1};

using DurationHistogram = LocalHistogram<kDurationBoundsNs.size()>;

// Observes the time from `start` to now; returns the now it took.
inline std::chrono::steady_clock::time_point ObserveSince(DurationHistogram& histogram,
                                                         std::chrono::steady_clock::time_point start) {
  const std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  histogram.Observe(kDurationBoundsNs, static_cast<uint64_t>((now - start) / std::chrono::nanoseconds(1)));
  return now;
}

struct ThreadMetrics {
  // By method and status code.
  std::array<std::array<LocalCounter, kStatusCodes>, kMethods.size()> calls;
  // Unary calls, from the request's arrival to its answer.
  std::array<DurationHistogram, kMethods.size()> handling;
  std::array<LocalCounter, kHeartbeatApis.size()> heartbeats;
  std::array<LocalCounter, kStreamKinds.size()> streams_opened;
  std::array<LocalCounter, kStreamKinds.size()> streams_closed;
  LocalCounter watch_events_sent;
  LocalCounter watch_events_coalesced;  // changes folded into a later event of their instance
  LocalCounter watch_snapshots_history_lost;
  std::array<LocalCounter, kXdsTypes> xds_responses;  // by resource type
  std::array<LocalCounter, kXdsTypes> xds_nacks;
  LocalCounter journal_bytes;
  DurationHistogram journal_fsync;
  DurationHistogram etcd_txn;  // sent to answered
  LocalHistogram<kBatchBounds.size()> etcd_txn_writes;
  LocalCounter etcd_txn_failures;
  LocalCounter late_calls;  // handled more than --stall-threshold after their deadline
  LocalCounter calls_dropped_past_deadline;  // unary late_calls, cancelled unanswered
  LocalCounter connections_shed;  // reset with requests unread longer than --shed-unread-after
  LocalCounter connections_reset_unsent;  // reset with answers unsent longer than --shed-unread-after
  std::array<std::array<LocalCounter, kDnsAnswers.size()>, kDnsTypes.size()> dns_queries;
  LocalCounter dns_truncated;  // UDP answers with TC set
  LocalCounter dns_udp_dropped;  // queries the kernel dropped: the UDP socket's receive buffer was full

  void Call(size_t method, int code) { calls[method][static_cast<size_t>(code) % kStatusCodes].Add(); }
  void Heartbeats(HeartbeatApi api, uint64_t count = 1) { heartbeats[static_cast<size_t>(api)].Add(count); }
  void StreamOpened(StreamKind kind) { streams_opened[static_cast<size_t>(kind)].Add(); }
  void StreamClosed(StreamKind kind) { streams_closed[static_cast<size_t>(kind)].Add(); }
};

// The sum over every thread, ended ones included.
struct MetricTotals {
  std::array<std::array<uint64_t, kStatusCodes>, kMethods.size()> calls{};
  std::array<HistogramTotals, kMethods.size()> handling;
  std::array<uint64_t, kHeartbeatApis.size()> heartbeats{};
  std::array<uint64_t, kStreamKinds.size()> streams_opened{};
  std::array<uint64_t, kStreamKinds.size()> streams_closed{};
  uint64_t watch_events_sent = 0;
  uint64_t watch_events_coalesced = 0;
  uint64_t watch_snapshots_history_lost = 0;
  std::array<uint64_t, kXdsTypes> xds_responses{};
  std::array<uint64_t, kXdsTypes> xds_nacks{};
  uint64_t journal_bytes = 0;
  HistogramTotals journal_fsync;
  HistogramTotals etcd_txn;
  HistogramTotals etcd_txn_writes;
  uint64_t etcd_txn_failures = 0;
  uint64_t late_calls = 0;
  uint64_t calls_dropped_past_deadline = 0;
  uint64_t connections_shed = 0;
  uint64_t connections_reset_unsent = 0;
  std::array<std::array<uint64_t, kDnsAnswers.size()>, kDnsTypes.size()> dns_queries{};
  uint64_t dns_truncated = 0;
  uint64_t dns_udp_dropped = 0;
};

// Makes this thread's metrics (first use).
ThreadMetrics& RegisterThread();
// This thread's, once made: a plain thread-local pointer (no TLS guard, no call).
inline thread_local ThreadMetrics* this_thread_metrics = nullptr;

// This thread's metrics.
inline ThreadMetrics& Local() {
  if (ThreadMetrics* metrics = this_thread_metrics) [[likely]] return *metrics;
  return RegisterThread();
}
// Every thread's metrics summed; any thread, any time.
MetricTotals Collect();

}  // namespace registryd::metrics
