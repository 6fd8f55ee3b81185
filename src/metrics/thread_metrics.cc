#include "metrics/thread_metrics.h"

#include <mutex>
#include <vector>

namespace registryd::metrics {
namespace {

void AddTo(const ThreadMetrics& from, MetricTotals& to) {
  for (size_t method = 0; method < kMethods.size(); ++method) {
    for (size_t code = 0; code < kStatusCodes; ++code) to.calls[method][code] += from.calls[method][code].value();
    from.handling[method].AddTo(to.handling[method]);
  }
  for (size_t api = 0; api < kHeartbeatApis.size(); ++api) to.heartbeats[api] += from.heartbeats[api].value();
  for (size_t kind = 0; kind < kStreamKinds.size(); ++kind) {
    to.streams_opened[kind] += from.streams_opened[kind].value();
    to.streams_closed[kind] += from.streams_closed[kind].value();
  }
  to.watch_events_sent += from.watch_events_sent.value();
  to.watch_events_coalesced += from.watch_events_coalesced.value();
  to.watch_snapshots_history_lost += from.watch_snapshots_history_lost.value();
  for (size_t type = 0; type < kXdsTypes; ++type) {
    to.xds_responses[type] += from.xds_responses[type].value();
    to.xds_nacks[type] += from.xds_nacks[type].value();
  }
  to.journal_bytes += from.journal_bytes.value();
  from.journal_fsync.AddTo(to.journal_fsync);
  from.etcd_txn.AddTo(to.etcd_txn);
  from.etcd_txn_writes.AddTo(to.etcd_txn_writes);
  to.etcd_txn_failures += from.etcd_txn_failures.value();
  to.late_calls += from.late_calls.value();
  to.calls_dropped_past_deadline += from.calls_dropped_past_deadline.value();
  to.connections_shed += from.connections_shed.value();
  to.connections_reset_unsent += from.connections_reset_unsent.value();
  for (size_t type = 0; type < kDnsTypes.size(); ++type) {
    for (size_t answer = 0; answer < kDnsAnswers.size(); ++answer) {
      to.dns_queries[type][answer] += from.dns_queries[type][answer].value();
    }
  }
  to.dns_truncated += from.dns_truncated.value();
  to.dns_udp_dropped += from.dns_udp_dropped.value();
}

// The live threads' metrics, and what ended threads counted.
class AllThreads {
 public:
  void Add(const ThreadMetrics* metrics) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.push_back(metrics);
  }
  void Retire(const ThreadMetrics* metrics) {
    std::lock_guard<std::mutex> lock(mu_);
    AddTo(*metrics, retired_);
    std::erase(live_, metrics);
  }
  MetricTotals Sum() {
    std::lock_guard<std::mutex> lock(mu_);
    MetricTotals totals = retired_;
    for (const ThreadMetrics* metrics : live_) AddTo(*metrics, totals);
    return totals;
  }

 private:
  std::mutex mu_;
  std::vector<const ThreadMetrics*> live_;
  MetricTotals retired_;
};

// Never destroyed: threads may end after static destruction began.
AllThreads& Threads() {
  static AllThreads* const threads = new AllThreads;
  return *threads;
}

struct ThreadSlot {
  ThreadSlot() {
    Threads().Add(&metrics);
    this_thread_metrics = &metrics;
  }
  ~ThreadSlot() {
    this_thread_metrics = nullptr;
    Threads().Retire(&metrics);
  }
  ThreadMetrics metrics;
};

}  // namespace

ThreadMetrics& RegisterThread() {
  thread_local ThreadSlot slot;
  return slot.metrics;
}

MetricTotals Collect() { return Threads().Sum(); }

}  // namespace registryd::metrics
