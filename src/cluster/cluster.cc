#include "cluster/cluster.h"

#include <functional>

#include "core/log.h"

namespace registryd::cluster {
namespace {

constexpr auto kMonitorPeriod = std::chrono::milliseconds(250);
// Besides the takeovers a node's departure starts: a sweep for leases whose
// holder left while this node could not see it.
constexpr auto kSweepPeriod = std::chrono::seconds(30);
// How long a starting node waits for etcd before it gives up.
constexpr auto kStartupPatience = std::chrono::seconds(30);
// How long a node that seems cut off tries to reach etcd itself before it
// concludes it is: longer than a reconnection's backoff (1 s, and jitter),
// and at most half a node TTL (it starts after half a node TTL of silence).
constexpr auto kReachPatience = std::chrono::seconds(2);
// A failed try at etcd older than this is tried again while the node is not
// yet cut off.
constexpr auto kFreshReach = std::chrono::seconds(1);
// How long it waits for one etcd member to connect before it tries the next.
constexpr auto kConnectPatience = std::chrono::milliseconds(1000);

int64_t Millis(Duration duration) { return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count(); }

// The longest a node cut off from etcd may go on answering its clients after
// its etcd lease ended, when the others may take its leases and sessions
// over (Cluster::CheckCutOff): its lease has whole seconds, so it may end up
// to a second before --node-ttl of silence; CheckCutOff looks once per
// monitor period, asks the others (one call each), and tries etcd itself,
// a try already under way and one more.
Duration CutOffDecisionBound(Duration node_ttl) {
  const Duration patience = std::min<Duration>(kReachPatience, node_ttl / 2);
  const Duration lease_rounding = node_ttl - std::chrono::floor<std::chrono::seconds>(node_ttl);
  return lease_rounding + kMonitorPeriod + PeerLinks::kCallTimeout + 2 * patience;
}

}  // namespace

Cluster::Cluster(Registry& registry, ClusterOptions options, std::shared_ptr<grpc::ChannelCredentials> peer_credentials,
                 std::function<void(bool)> on_serving)
    : registry_(registry),
      options_(std::move(options)),
      peer_credentials_(std::move(peer_credentials)),
      on_serving_(std::move(on_serving)),
      keys_(options_.prefix) {}

Cluster::~Cluster() { Stop(); }

absl::Status Cluster::Start() {
  absl::StatusOr<std::unique_ptr<EtcdEndpoints>> endpoints =
      EtcdEndpoints::Make(options_.etcd_endpoints, options_.etcd_tls, false);
  if (!endpoints.ok()) return endpoints.status();
  endpoints_ = *std::move(endpoints);
  endpoints = EtcdEndpoints::Make(
      options_.watch_endpoints.empty() ? options_.etcd_endpoints : options_.watch_endpoints, options_.etcd_tls, true);
  if (!endpoints.ok()) return endpoints.status();
  watch_endpoints_ = *std::move(endpoints);

  nodes_ = std::make_unique<NodeTable>(options_.node_name, [this] {
    std::vector<bool> in_use(256, false);
    registry_.VisitAll([&](std::string_view, const InstanceRecord& record) { in_use[record.holder()] = true; });
    for (const SessionSummary& session : registry_.sessions().List()) in_use[session.holder] = true;
    return in_use;
  });
  committer_ = std::make_unique<EtcdCommitter>(*endpoints_, client_queue_, keys_, options_.commit);
  proof_ = std::make_unique<ViewProof>([this] { WantBeacon(); });
  // A session taken over waits for its client beyond its TTL for as long as
  // its last holder, cut off, may still be answering it.
  follower_ = std::make_unique<CatalogFollower>(registry_, *watch_endpoints_, client_queue_, keys_, *nodes_, *this,
                                                *proof_, CutOffDecisionBound(options_.node_ttl));
  membership_ = std::make_unique<NodeMembership>(*endpoints_, keys_, options_.node_name, options_.address,
                                                 options_.node_ttl);
  peers_ = std::make_unique<PeerLinks>(*nodes_, client_queue_, options_.forward_interval, peer_credentials_,
                                       options_.peer_token,
                                       [this](std::vector<LeaseId> leases) { writer_->Adopt(leases); });
  writer_ = std::make_unique<ClusterWriter>(registry_, *committer_, *follower_, *nodes_, *peers_, keys_, *membership_,
                                            options_.node_ttl, *proof_, options_.max_staleness);

  // etcd may still be starting (or electing): try every endpoint for a while.
  const auto started = std::chrono::steady_clock::now();
  const auto patiently = [&](EtcdEndpoints& endpoints, const std::function<absl::Status()>& step) {
    for (;;) {
      const std::string url = endpoints.Current().url;
      const absl::Status done = endpoints.ConnectCurrent(kConnectPatience)
                                    ? step()
                                    : absl::UnavailableError("cannot connect to etcd " + url);
      if (done.ok() || std::chrono::steady_clock::now() - started > kStartupPatience) return done;
      log::Warn("cluster: {}; trying again", std::string(done.message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  if (absl::Status loaded = patiently(*watch_endpoints_, [&] { return follower_->Load(); }); !loaded.ok()) {
    return loaded;
  }
  log::Info("cluster: loaded {} instances from etcd (revision {}) in {} ms", registry_.Totals().live,
            follower_->applied_revision(), Millis(std::chrono::steady_clock::now() - started));
  if (absl::Status joined = patiently(*endpoints_, [&] { return membership_->Join(); }); !joined.ok()) return joined;
  nodes_->SetLive(options_.node_name, options_.address);
  membership_->Start();
  return absl::OkStatus();
}

void Cluster::Serve(std::vector<grpc::CompletionQueue*> queues) {
  client_queue_.Attach(std::move(queues));
  follower_->Start();
  peers_->Start();
  last_sweep_ = std::chrono::steady_clock::now();
  VouchForView(last_sweep_ + VouchBound());  // just loaded
  monitor_ = std::thread([this] { Monitor(); });
}

void Cluster::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  if (proof_ != nullptr) proof_->Stop();
  if (peers_ != nullptr) peers_->Stop();
  if (membership_ != nullptr) membership_->Leave();
  if (follower_ != nullptr) follower_->Stop();
  if (committer_ != nullptr) committer_->Stop();
  client_queue_.Detach();
}

void Cluster::OnNodeGone(const std::string& name) {
  if (name == options_.node_name) return;  // this node's own key: its membership joins again if it must
  log::Info("cluster: node {} left or lost etcd; taking over its leases", name);
  take_over_.store(true, std::memory_order_release);
  wake_.notify_all();
}

std::vector<LeaseId> Cluster::RenewHeld(const std::vector<LeaseId>& leases) {
  std::vector<LeaseId> not_held;
  for (const LeaseId lease : leases) {
    const absl::StatusOr<Renewal> renewal = registry_.Renew(lease, false);
    if (!renewal.ok() || renewal->holder != kHeldHere) not_held.push_back(lease);
  }
  return not_held;
}

void Cluster::Monitor() {
  const Duration vouch_bound = VouchBound();
  for (;;) {
    const auto slept = std::chrono::steady_clock::now();
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, kMonitorPeriod,
                         [this] { return stopping_ || take_over_.load() || beacon_wanted_.load(); })) {
        if (stopping_) return;
      }
      beacon_wanted_.store(false);
    }
    const auto now = std::chrono::steady_clock::now();
    // Woken this late, the process did not run (SIGSTOP, a VM pause): the
    // watch may not yet have brought what the others did meanwhile.
    if (const Duration overslept = now - slept - kMonitorPeriod;
        overslept > options_.stall_threshold && !catching_up_) {
      log::Warn("cluster: this node did not run for {} ms (paused?): serving once the watch caught up",
                Millis(overslept));
      catch_ups_after_stalls_.fetch_add(1, std::memory_order_relaxed);
      CatchUp();
    }
    VouchForView(now + vouch_bound);
    if (now - last_sweep_ > kSweepPeriod) {
      last_sweep_ = now;
      take_over_.store(true);
    }
    if (take_over_.exchange(false)) TakeOver();
    CheckEtcd();
    CheckCutOff();
    SetServing();
    // A check that took long (etcd out of reach) vouches no further: the
    // next wake-up does.
    if (const auto checked = std::chrono::steady_clock::now(); checked - now <= vouch_bound) {
      VouchForView(checked + vouch_bound);
    }
  }
}

Duration Cluster::VouchBound() const { return options_.stall_threshold + kMonitorPeriod; }

void Cluster::VouchForView(std::chrono::steady_clock::time_point until) {
  writer_->VouchForViewUntil(stale_ || catching_up_ ? std::chrono::steady_clock::time_point{} : until);
}

void Cluster::CatchUp() {
  // Beacons sent before say nothing about the watch after.
  std::lock_guard<std::mutex> lock(beacon_mu_);
  ++beacon_generation_;
  beacon_sent_.reset();
  beacon_under_way_.store(false);
  beacon_committed_.reset();
  seen_beacon_ = false;
  last_beacon_ = {};
  catching_up_ = true;
}

void Cluster::WantBeacon() {
  // A beacon under way asks again when it is back; after a failed one the
  // monitor's next period does. (Either may miss a want that races with
  // it: the monitor's period sends the beacon then.)
  if (beacon_under_way_.load() ||
      std::chrono::steady_clock::now().time_since_epoch().count() < beacons_wanted_from_ns_.load()) {
    return;
  }
  if (beacon_wanted_.exchange(true)) return;  // the monitor has yet to wake for the last want
  std::lock_guard<std::mutex> lock(mu_);
  wake_.notify_all();
}

void Cluster::CheckEtcd() {
  follower_->ExpireWaiters();
  const auto now = std::chrono::steady_clock::now();
  proof_->ExpireWaiters(now);
  std::optional<std::chrono::steady_clock::time_point> committed;
  bool send_beacon = false;
  {
    std::lock_guard<std::mutex> lock(beacon_mu_);
    const bool wanted = proof_->BeaconWanted() &&
                        now.time_since_epoch().count() >= beacons_wanted_from_ns_.load(std::memory_order_relaxed);
    if (!beacon_sent_ && (now - last_beacon_ >= options_.max_staleness / 3 || wanted)) {
      beacon_sent_ = last_beacon_ = now;
      beacon_under_way_.store(true);
      send_beacon = true;
    }
    committed = beacon_committed_;
    if (seen_beacon_) {
      seen_beacon_ = false;
      if (stale_ || catching_up_) log::Info("cluster: caught up with etcd");
      stale_ = false;
      catching_up_ = false;
    }
  }
  if (send_beacon) {  // not under beacon_mu_: the answer may come at once, on this thread
    EtcdWrite beacon;
    beacon.key = keys_.Beacon(options_.node_name);
    beacon.lease = membership_->lease();
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(beacon_mu_);
      generation = beacon_generation_;
    }
    // Once the watch brings it back, the view holds everything etcd
    // committed before it was sent.
    const auto sent = std::chrono::steady_clock::now();
    beacon.done = [this, generation, sent](absl::StatusOr<Committed> written) {
      {
        std::lock_guard<std::mutex> lock(beacon_mu_);
        if (generation != beacon_generation_) return;
        if (!written.ok()) {  // out of touch: CheckCutOff decides
          beacon_sent_.reset();
          // Questions do not send one beacon each while etcd fails fast.
          beacons_wanted_from_ns_.store((std::chrono::steady_clock::now() + kMonitorPeriod).time_since_epoch().count());
          beacon_under_way_.store(false);
          return;
        }
        beacon_committed_ = std::chrono::steady_clock::now();
      }
      membership_->NoteContact();
      follower_->WhenApplied(written->revision, [this, generation, sent](bool applied) {
        {
          std::lock_guard<std::mutex> lock(beacon_mu_);
          if (generation != beacon_generation_) return;
          if (beacon_committed_) last_beacon_lag_ = std::chrono::steady_clock::now() - *beacon_committed_;
          beacon_sent_.reset();
          beacon_committed_.reset();
          seen_beacon_ = true;
          beacon_under_way_.store(false);
        }
        if (!applied) return;  // the follower stopped
        proof_->Proven(sent);
        if (proof_->BeaconWanted()) WantBeacon();  // asked after this one was sent
      });
    };
    committer_->Submit(std::move(beacon));
  }
  // etcd took the beacon but the watch has not brought it back.
  if (!committed || now - *committed <= options_.max_staleness) return;
  if (!stale_) {
    log::Warn("cluster: this node's view of the catalog is {} ms old (applied revision {}): reporting NOT_SERVING "
              "and watching again",
              Millis(now - *committed), follower_->applied_revision());
  }
  stale_ = true;
  if (now - last_restart_ > options_.max_staleness) {
    last_restart_ = now;
    watch_endpoints_->Failed(watch_endpoints_->current());
    follower_->Restart();
  }
}

Duration Cluster::WatchLag() {
  std::lock_guard<std::mutex> lock(beacon_mu_);
  if (beacon_committed_) return std::max<Duration>(last_beacon_lag_, std::chrono::steady_clock::now() - *beacon_committed_);
  return last_beacon_lag_;
}

void Cluster::CheckCutOff() {
  const Duration silence = membership_->Silence();
  if (silence <= options_.node_ttl / 2) {
    unreachable_at_.reset();
    if (writer_->cut_off()) {
      log::Info("cluster: in touch with etcd again; serving once the watch caught up");
      catch_ups_after_cut_offs_.fetch_add(1, std::memory_order_relaxed);
      CatchUp();
    }
    writer_->set_cut_off(false);
    return;
  }
  // Half a node TTL without an answer: this node tries etcd itself (again
  // once its last failure is older than kFreshReach), so that it knows
  // whether it can reach it by the time its etcd lease may run out and the
  // others take its leases and sessions over: their clients must hear
  // UNAVAILABLE then, while the others still wait for them. And when etcd
  // comes back after an outage, the others may hear from it a moment
  // before this node does: a node that reaches etcd is not cut off.
  const Duration patience = std::min<Duration>(kReachPatience, options_.node_ttl / 2);
  if (!writer_->cut_off() &&
      (!unreachable_at_ || std::chrono::steady_clock::now() - *unreachable_at_ > kFreshReach)) {
    if (membership_->Reachable(patience)) return;
    unreachable_at_ = std::chrono::steady_clock::now();
  }
  // Until then its etcd lease holds, and so do its leases.
  if (membership_->Silence() <= options_.node_ttl) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_peer_check_ < std::chrono::seconds(1)) return;
  last_peer_check_ = now;
  // Silent longer than a lease of this node lives: the others may have taken
  // its leases over, unless etcd is down for them too.
  const PeerLinks::EtcdContact contact = peers_->AskEtcdContact(options_.node_ttl / 2);
  const bool cut_off = contact.in_touch > 0 || (contact.asked > 0 && contact.answered == 0);
  // A failed try from before the others answered proves nothing about now:
  // etcd may just be back, heard by them a moment before this node.
  if (cut_off && !writer_->cut_off() && membership_->Reachable(patience)) return;
  if (cut_off != writer_->cut_off()) {
    if (cut_off) {
      log::Error("cluster: no answer from etcd for {} ms while {} of {} other nodes have one: this node is cut "
                 "off; heartbeats get UNAVAILABLE until it is back",
                 Millis(membership_->Silence()), contact.in_touch, contact.asked);
    } else {
      log::Warn("cluster: no answer from etcd for {} ms, nor for the other nodes: etcd is down; serving from "
                "memory, writes fail until it is back",
                Millis(membership_->Silence()));
    }
  }
  writer_->set_cut_off(cut_off);
}

void Cluster::SetServing() {
  const bool serving = !stale_ && !catching_up_ && !writer_->cut_off();
  if (serving_ == serving) return;
  serving_ = serving;
  on_serving_(serving);
}

void Cluster::TakeOver() {
  std::vector<LeaseId> adopted;
  registry_.VisitAll([&](std::string_view service, const InstanceRecord& record) {
    if (record.holder() == kHeldHere || nodes_->IsLive(record.holder())) return;
    RegisterSpec spec;
    spec.service = std::string(service);
    spec.instance_id = std::string(record.instance_id());
    spec.seed_id = record.seed_id();
    if (nodes_->AdopterOf(keys_.Instance(KeyOf(spec))) == options_.node_name) adopted.push_back(record.lease);
  });
  if (!adopted.empty()) {
    log::Info("cluster: taking over {} leases of nodes that are gone", adopted.size());
    writer_->Adopt(adopted);
  }
  // Their sessions wait here for their clients, which may resume them on any node.
  std::vector<ReplicatedSession> sessions = registry_.sessions().HeldElsewhere();
  std::erase_if(sessions, [&](const ReplicatedSession& session) {
    return nodes_->IsLive(session.holder) || nodes_->AdopterOf(keys_.Session(session.id)) != options_.node_name;
  });
  if (sessions.empty()) return;
  log::Info("cluster: taking over {} sessions of nodes that are gone", sessions.size());
  writer_->AdoptSessions(sessions);
}

}  // namespace registryd::cluster
