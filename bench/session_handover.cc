#include "bench/session_handover.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>

#include "bench/roaming_sessions.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

constexpr const char* kService = "session-handover";
constexpr const char* kInstancePrefix = "handover-";  // "handover-<session>-<n>"
constexpr int kRefreshesMeasured = 3;                 // TTL/3 apart: a TTL's worth
constexpr auto kListedWithin = std::chrono::seconds(30);

// The session an instance id of the bench's names, if it is one.
std::optional<size_t> SessionOf(const std::string& instance_id, size_t sessions) {
  const size_t prefix = std::char_traits<char>::length(kInstancePrefix);
  if (instance_id.rfind(kInstancePrefix, 0) != 0) return std::nullopt;
  size_t index = 0;
  const char* end = instance_id.data() + instance_id.size();
  const auto [after, error] = std::from_chars(instance_id.data() + prefix, end, index);
  if (error != std::errc() || after == end || *after != '-' || index >= sessions) return std::nullopt;
  return index;
}

// A Watch of the bench's service on one node, on a thread of its own: the
// instances of its first snapshot, then every change of each session's
// instances.
class ChurnWatch {
 public:
  struct Churn {
    std::vector<uint64_t> removed, added, updated;  // by session
    int later_snapshots = 0;  // a snapshot replaces changes the watch did not see
  };

  ChurnWatch(const std::shared_ptr<grpc::Channel>& channel, size_t sessions)
      : stub_(registry::v1::Registry::NewStub(channel)), sessions_(sessions) {
    churn_.removed.resize(sessions);
    churn_.added.resize(sessions);
    churn_.updated.resize(sessions);
    registry::v1::WatchRequest request;
    request.set_service(kService);
    if (!CallAuthorization().empty()) context_.AddMetadata("authorization", CallAuthorization());
    reader_ = stub_->Watch(&context_, request);
    thread_ = std::thread([this] { Follow(); });
  }
  ~ChurnWatch() {
    context_.TryCancel();
    thread_.join();
  }

  // The instances of the first snapshot, once it is complete.
  std::optional<size_t> WaitSnapshot(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_until(lock, deadline, [&] { return snapshot_done_ || ended_; }) || !snapshot_done_) {
      return std::nullopt;
    }
    return in_snapshot_;
  }
  Churn Counts() {
    std::lock_guard lock(mutex_);
    return churn_;
  }

 private:
  void Follow() {
    registry::v1::WatchResponse response;
    bool snapshot = false;  // reading one
    int snapshots = 0;
    while (reader_->Read(&response)) {
      std::lock_guard lock(mutex_);
      if (response.snapshot()) {
        snapshot = true;
        if (++snapshots > 1) ++churn_.later_snapshots;
      }
      for (const auto& event : response.events()) {
        const std::optional<size_t> session = SessionOf(event.instance().instance_id(), sessions_);
        if (!session) continue;
        if (snapshot) {
          if (snapshots == 1) ++in_snapshot_;
          continue;
        }
        switch (event.kind()) {
          case registry::v1::WatchEvent::ADDED: ++churn_.added[*session]; break;
          case registry::v1::WatchEvent::REMOVED: ++churn_.removed[*session]; break;
          case registry::v1::WatchEvent::UPDATED: ++churn_.updated[*session]; break;
          default: break;
        }
      }
      if (!response.more()) {
        snapshot = false;
        snapshot_done_ = true;
      }
      changed_.notify_all();
    }
    reader_->Finish();
    std::lock_guard lock(mutex_);
    ended_ = true;
    changed_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<registry::v1::Registry::Stub> stub_;
  std::unique_ptr<grpc::ClientReader<registry::v1::WatchResponse>> reader_;
  size_t sessions_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool snapshot_done_ = false;
  bool ended_ = false;
  size_t in_snapshot_ = 0;
  Churn churn_;
  std::thread thread_;  // last: starts once the members above exist
};

// The instances of each session that `channel`'s node lists (Discover).
std::vector<size_t> ListedBySession(const std::shared_ptr<grpc::Channel>& channel, size_t sessions) {
  registry::v1::DiscoverRequest request;
  request.set_service(kService);
  registry::v1::DiscoverResponse response;
  grpc::ClientContext context;
  if (!CallAuthorization().empty()) context.AddMetadata("authorization", CallAuthorization());
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = registry::v1::Registry::NewStub(channel)->Discover(&context, request, &response);
  if (!status.ok()) throw std::runtime_error("handover: Discover on a survivor: " + status.error_message());
  std::vector<size_t> listed(sessions);
  for (const auto& instance : response.instances()) {
    if (const std::optional<size_t> session = SessionOf(instance.instance_id(), sessions)) ++listed[*session];
  }
  return listed;
}

size_t Sum(const std::vector<size_t>& counts) {
  size_t sum = 0;
  for (const size_t count : counts) sum += count;
  return sum;
}

// Keys whose mod_revision differs, or that are in one only: each was written.
size_t Written(const std::map<std::string, int64_t>& before, const std::map<std::string, int64_t>& after) {
  size_t written = 0;
  for (const auto& [key, revision] : before) {
    const auto it = after.find(key);
    if (it == after.end() || it->second != revision) ++written;
  }
  for (const auto& [key, revision] : after) written += before.contains(key) ? 0 : 1;
  return written;
}

uint32_t Micros(Clock::duration duration) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(duration).count());
}

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

std::vector<Phase> MeasureSessionHandover(const Target& target, const ScenarioOptions& options) {
  const size_t node_count = target.node_addresses.size();
  if (node_count < 2 || !target.kill_node || !target.store_keys) {
    throw std::runtime_error("the sessions handover needs a cluster of two nodes or more (--cluster 3)");
  }
  const auto sessions = static_cast<size_t>(std::max(options.handover_sessions, 1));
  const auto size = static_cast<size_t>(std::max(options.handover_session_size, 1));
  const size_t instances = sessions * size;
  const std::chrono::milliseconds ttl = options.handover_ttl;
  std::deque<Connections> connections;  // by node
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels;
  for (const std::string& address : target.node_addresses) {
    connections.emplace_back(*target.channels, address, options.channels);
    if (!connections.back().WaitConnected()) throw std::runtime_error("handover: cannot connect to " + address);
    channels.push_back(connections.back().channels());
  }
  const double cpu_at_open = target.pid ? ProcessCpuSeconds(*target.pid) : 0;
  const Clock::time_point opening = Clock::now();
  RoamingSessions clients(channels, {sessions, size, static_cast<uint32_t>(ttl.count()), kService, kInstancePrefix});

  // Open.
  clients.WaitOpened(opening + std::chrono::seconds(60) + std::chrono::milliseconds(instances));
  Phase open{"handover-open", {}, {}, {}, {}};
  {
    Clock::time_point last = opening;
    for (const RoamingSessions::Outcome& outcome : clients.Outcomes()) {
      ++open.load.calls;
      if (outcome.failure != 0 || !outcome.opened_in) {
        ++open.load.errors[outcome.failure != 0 ? outcome.failure : grpc::StatusCode::DEADLINE_EXCEEDED];
        continue;
      }
      open.load.latencies_us.push_back(static_cast<uint32_t>(outcome.opened_in->count()));
      last = std::max(last, opening + *outcome.opened_in);
    }
    open.load.seconds = Seconds(last - opening);
    open.load.SortLatencies();
    if (target.pid) {
      open.cpu_seconds = ProcessCpuSeconds(*target.pid) - cpu_at_open;
      open.peak_rss = ProcessPeakRssBytes(*target.pid);
    }
    open.figures = {{"sessions", static_cast<double>(sessions)},
                    {"instances", static_cast<double>(instances)},
                    {"ttl_ms", static_cast<double>(ttl.count())},
                    {"instances_per_s", static_cast<double>(open.load.latencies_us.size() * size) /
                                            std::max(open.load.seconds, 1e-9)}};
  }
  if (!open.load.errors.empty()) {
    for (const RoamingSessions::Outcome& outcome : clients.Outcomes()) {
      if (outcome.failure == 0) continue;
      fmt::print(stderr, "  handover: a session was not opened: code {}: {}\n", outcome.failure, outcome.failure_message);
      break;
    }
    return {std::move(open)};
  }

  // Every survivor lists the instances; a Watch there from then on.
  std::vector<std::unique_ptr<ChurnWatch>> watches;
  for (size_t node = 1; node < node_count; ++node) {
    const Clock::time_point give_up = Clock::now() + kListedWithin;
    size_t listed = 0;
    while ((listed = Sum(ListedBySession(channels[node][0], sessions))) < instances && Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (listed < instances) {
      throw std::runtime_error(fmt::format("handover: node {} lists {} of the {} instances {} s after they were registered",
                                           node, listed, instances, kListedWithin.count()));
    }
    watches.push_back(std::make_unique<ChurnWatch>(target.channels->Open(target.node_addresses[node]), sessions));
    const std::optional<size_t> in_snapshot = watches.back()->WaitSnapshot(Clock::now() + kListedWithin);
    if (in_snapshot != instances) {
      throw std::runtime_error(fmt::format("handover: a Watch on node {} began with {} of the {} instances", node,
                                           in_snapshot.value_or(0), instances));
    }
  }

  // Refreshes: etcd's session and instance keys before and after.
  const std::map<std::string, int64_t> sessions_before = target.store_keys("sessions/");
  const std::map<std::string, int64_t> instances_before = target.store_keys("instances/");
  // The layout is as assumed: the comparison below is not of nothing.
  if (sessions_before.size() != sessions || instances_before.size() != instances) {
    throw std::runtime_error(fmt::format("handover: etcd holds {} session and {} instance keys where the bench "
                                         "looks, not {} and {}",
                                         sessions_before.size(), instances_before.size(), sessions, instances));
  }
  const int64_t revision_before = target.store_revision ? target.store_revision() : 0;
  const double cpu_before = target.pid ? ProcessCpuSeconds(*target.pid) : 0;
  std::vector<uint64_t> answered = clients.KeepAlivesSent();
  for (uint64_t& count : answered) count += kRefreshesMeasured;
  clients.StartRecording();
  const Clock::time_point refreshing = Clock::now();
  clients.WaitKeepAlivesAnswered(answered, refreshing + ttl * kRefreshesMeasured / 3 + std::chrono::seconds(10));
  Phase refresh{"handover-refresh", {}, {}, {}, {}};
  refresh.load.latencies_us = clients.TakeRecorded();
  refresh.load.seconds = Seconds(Clock::now() - refreshing);
  const std::map<std::string, int64_t> sessions_after = target.store_keys("sessions/");
  const std::map<std::string, int64_t> instances_after = target.store_keys("instances/");
  const size_t written = Written(sessions_before, sessions_after) + Written(instances_before, instances_after);
  refresh.load.calls = refresh.load.latencies_us.size();
  refresh.load.SortLatencies();
  {
    const std::vector<RoamingSessions::Outcome> outcomes = clients.Outcomes();
    for (size_t i = 0; i < sessions; ++i) {
      if (outcomes[i].keep_alives_answered >= answered[i]) continue;
      ++refresh.load.errors[outcomes[i].failure != 0 ? outcomes[i].failure : grpc::StatusCode::DEADLINE_EXCEEDED];
    }
  }
  if (written > 0) refresh.load.errors[grpc::StatusCode::FAILED_PRECONDITION] += written;
  if (target.pid) {
    refresh.cpu_seconds = ProcessCpuSeconds(*target.pid) - cpu_before;
    refresh.peak_rss = ProcessPeakRssBytes(*target.pid);
  }
  refresh.figures = {
      {"keep_alives_per_session", kRefreshesMeasured},
      {"etcd_keys_written", static_cast<double>(written)},
      {"etcd_writes_per_refresh", static_cast<double>(written) / std::max<double>(static_cast<double>(refresh.load.calls), 1)},
      // Every write Txn, the nodes' beacons (one per node every third of --max-staleness) among them.
      {"etcd_revisions_meanwhile", static_cast<double>(target.store_revision ? target.store_revision() - revision_before : 0)},
  };

  // Node 0 killed: each client resumes on the survivors in turn.
  clients.MoveOnBreak([&](size_t session) { return 1 + session % (node_count - 1); });
  const Clock::time_point killed_at = Clock::now();
  target.kill_node(0);
  clients.WaitResumed(killed_at + ttl + std::chrono::seconds(5));  // past its grace, a session is gone
  // The aftermath: the survivors see node 0 gone (--node-ttl), take over
  // what was still its, and a session TTL passes over the sessions moved.
  std::this_thread::sleep_until(killed_at + 2 * target.node_ttl + ttl);
  const std::vector<RoamingSessions::Outcome> outcomes = clients.Outcomes();
  const std::map<int, uint64_t> retries = clients.Retries();
  std::vector<ChurnWatch::Churn> churn;
  std::vector<std::vector<size_t>> listed;
  for (size_t node = 1; node < node_count; ++node) {
    churn.push_back(watches[node - 1]->Counts());
    listed.push_back(ListedBySession(channels[node][0], sessions));
  }
  const std::map<std::string, int64_t> session_keys_end = target.store_keys("sessions/");
  const std::map<std::string, int64_t> instance_keys_end = target.store_keys("instances/");

  Phase resume{"handover-resume", {}, {}, {}, {}};
  Clock::time_point last = killed_at;
  int breaks = 0;
  size_t resumed = 0;
  for (size_t i = 0; i < sessions; ++i) {
    const RoamingSessions::Outcome& outcome = outcomes[i];
    ++resume.load.calls;
    breaks += std::max(outcome.breaks - 1, 0);  // the kill breaks each session's stream once
    if (!outcome.resumed_at) {
      ++resume.load.errors[outcome.failure != 0 ? outcome.failure : grpc::StatusCode::DEADLINE_EXCEEDED];
      continue;
    }
    ++resumed;
    resume.load.latencies_us.push_back(Micros(*outcome.resumed_at - killed_at));
    last = std::max(last, *outcome.resumed_at);
    bool churned = false;
    bool missing = outcome.resumed_instances != size;
    for (size_t survivor = 0; survivor < churn.size(); ++survivor) {
      churned |= churn[survivor].removed[i] + churn[survivor].added[i] > 0;
      missing |= listed[survivor][i] != size;
    }
    if (outcome.failure != 0) {
      ++resume.load.errors[outcome.failure];  // lost after its resume
    } else if (churned) {
      ++resume.load.errors[grpc::StatusCode::FAILED_PRECONDITION];
    } else if (missing) {
      ++resume.load.errors[grpc::StatusCode::DATA_LOSS];
    }
  }
  resume.load.seconds = Seconds(last - killed_at);
  resume.load.SortLatencies();
  resume.figures = {{"sessions", static_cast<double>(sessions)},
                    {"resumed", static_cast<double>(resumed)},
                    {"all_resumed_ms", resumed == sessions ? Seconds(last - killed_at) * 1000 : -1},
                    {"node_ttl_ms", static_cast<double>(target.node_ttl.count())},
                    {"watched_after_kill_s", Seconds(Clock::now() - killed_at)}};
  for (const auto& [code, count] : retries) {
    resume.figures.emplace_back(fmt::format("resumes_retried_code_{}", code), static_cast<double>(count));
  }
  resume.figures.emplace_back("streams_broken_again", breaks);
  uint64_t removed_total = 0;
  for (size_t survivor = 0; survivor < churn.size(); ++survivor) {
    uint64_t removed = 0, added = 0, updated = 0;
    for (size_t i = 0; i < sessions; ++i) {
      removed += churn[survivor].removed[i];
      added += churn[survivor].added[i];
      updated += churn[survivor].updated[i];
    }
    removed_total += removed;
    const size_t node = survivor + 1;
    resume.figures.emplace_back(fmt::format("node{}_removed_events", node), static_cast<double>(removed));
    resume.figures.emplace_back(fmt::format("node{}_added_events", node), static_cast<double>(added));
    resume.figures.emplace_back(fmt::format("node{}_updated_events", node), static_cast<double>(updated));
    resume.figures.emplace_back(fmt::format("node{}_listed_instances", node), static_cast<double>(Sum(listed[survivor])));
    if (churn[survivor].later_snapshots > 0) {
      resume.figures.emplace_back(fmt::format("node{}_later_snapshots", node), churn[survivor].later_snapshots);
      resume.load.errors[grpc::StatusCode::FAILED_PRECONDITION] += static_cast<uint64_t>(churn[survivor].later_snapshots);
    }
  }
  resume.figures.emplace_back("removed_events_on_survivors", static_cast<double>(removed_total));
  resume.figures.emplace_back("instances", static_cast<double>(instances));
  // What the kill cost etcd: a session's move is one write; the takeover
  // may rewrite what the killed node still held.
  resume.figures.emplace_back("etcd_session_keys_written_after_kill",
                              static_cast<double>(Written(sessions_after, session_keys_end)));
  resume.figures.emplace_back("etcd_instance_keys_written_after_kill",
                              static_cast<double>(Written(instances_after, instance_keys_end)));
  return {std::move(open), std::move(refresh), std::move(resume)};
}

}  // namespace registryd::bench
