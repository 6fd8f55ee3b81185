#include "cluster/catalog_follower.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "registryd/cluster.pb.h"
#include "cluster/stored_instance.h"
#include "cluster/stored_session.h"
#include "core/log.h"

namespace registryd::cluster {
namespace {

constexpr auto kRetryDelay = std::chrono::milliseconds(200);
constexpr auto kLoadTimeout = std::chrono::seconds(10);  // per page
// A kind of at most this many keys loads in one range, a larger one bucket
// by bucket: etcd 3.4 visits a range's every key for each page (etcd_keys.h),
// so this many cost at most 10 pages of 10 000 visits, where 256 buckets
// cost 256 Ranges however few the keys (an empty catalog took 513).
constexpr int64_t kWholeRangeKeys = 10'000;

uint64_t RegistryRevision(int64_t etcd_revision) { return static_cast<uint64_t>(etcd_revision) << 16; }

// The registry's revision once every change of `etcd_revision` is applied.
uint64_t AfterRevision(int64_t etcd_revision) { return RegistryRevision(etcd_revision) | 0xffff; }

}  // namespace

CatalogFollower::CatalogFollower(Registry& registry, EtcdEndpoints& endpoints, ClientQueue& queue,
                                 const EtcdKeys& keys, NodeTable& nodes, NodeEvents& events, ViewProof& proof,
                                 Duration session_handover)
    : registry_(registry),
      endpoints_(endpoints),
      keys_(keys),
      nodes_(nodes),
      events_(events),
      proof_(proof),
      session_handover_(session_handover),
      queue_(queue) {}

CatalogFollower::~CatalogFollower() { Stop(); }

absl::Status CatalogFollower::LoadRange(const etcdserverpb::RangeRequest& request,
                                        etcdserverpb::RangeResponse& response) {
  const size_t endpoint = endpoints_.current();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kLoadTimeout);
  const grpc::Status status = endpoints_.at(endpoint).kv->Range(&context, request, &response);
  if (status.ok()) return absl::OkStatus();
  endpoints_.Failed(endpoint);
  return absl::UnavailableError("cannot load the catalog from etcd (" + endpoints_.at(endpoint).url +
                                "): " + status.error_message());
}

absl::StatusOr<std::vector<EtcdKeys::Range>> CatalogFollower::PlanLoad(int64_t& revision) {
  std::vector<EtcdKeys::Range> plan;
  for (const EtcdKeys::Range& kind : keys_.KindRanges()) {
    if (plan.empty()) {  // the nodes: a handful
      plan.push_back(kind);
      continue;
    }
    etcdserverpb::RangeRequest request;
    request.set_key(kind.key);
    request.set_range_end(kind.end);
    request.set_count_only(true);
    request.set_revision(revision);
    etcdserverpb::RangeResponse response;
    if (absl::Status counted = LoadRange(request, response); !counted.ok()) return counted;
    if (revision == 0) revision = response.header().revision();
    if (response.count() <= kWholeRangeKeys) {
      plan.push_back(kind);
    } else {
      for (EtcdKeys::Range& bucket : keys_.BucketRanges(kind)) plan.push_back(std::move(bucket));
    }
  }
  return plan;
}

absl::Status CatalogFollower::Load() {
  bool reload = registry_.live_instances() > 0 || applied_revision() > 0;
  int64_t revision = 0;  // every page at the first count's revision: one consistent catalog
  absl::StatusOr<std::vector<EtcdKeys::Range>> planned = PlanLoad(revision);
  if (!planned.ok()) return planned.status();
  std::vector<EtcdKeys::Range> ranges = *std::move(planned);
  size_t range = 0;
  std::string from = ranges[0].key;
  absl::flat_hash_set<std::string> seen;
  size_t loaded = 0;
  while (range < ranges.size()) {
    etcdserverpb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(ranges[range].end);
    request.set_limit(kPageSize);
    request.set_revision(revision);
    etcdserverpb::RangeResponse response;
    if (absl::Status paged = LoadRange(request, response); !paged.ok()) {
      if (absl::StrContains(paged.message(), "compacted")) {
        // The revision being loaded was compacted away meanwhile: start over
        // at a newer one, and drop then what went meanwhile.
        revision = 0;
        planned = PlanLoad(revision);
        if (!planned.ok()) return planned.status();
        ranges = *std::move(planned);
        range = 0;
        from = ranges[0].key;
        reload = true;
        seen.clear();
        continue;
      }
      return paged;
    }
    if (revision == 0) revision = response.header().revision();
    for (const mvccpb::KeyValue& kv : response.kvs()) {
      if (reload) seen.insert(kv.key());
      event_revision_ = kv.mod_revision();
      ApplyPut(kv, /*quiet=*/true);
      ++loaded;
    }
    if (response.more() && response.kvs_size() > 0) {
      from = response.kvs(response.kvs_size() - 1).key() + std::string(1, '\0');
    } else if (++range < ranges.size()) {
      from = ranges[range].key;
    }
  }
  if (reload) {
    // What the registry holds that etcd no longer does went while the watch could not tell.
    std::vector<InstanceKey> gone;
    registry_.VisitAll([&](std::string_view service, const InstanceRecord& record) {
      RegisterSpec spec;
      spec.service = std::string(service);
      spec.instance_id = std::string(record.instance_id());
      spec.seed_id = record.seed_id();
      const InstanceKey key = KeyOf(spec);
      if (!seen.contains(keys_.Instance(key))) gone.push_back(key);
    });
    for (const InstanceKey& key : gone) registry_.ApplyRemoval(key, RemovalReason::kDeregistered, /*quiet=*/true);
    for (const SessionSummary& session : registry_.sessions().List()) {
      if (!seen.contains(keys_.Session(session.id))) registry_.ApplySessionRemoval(session.id);
    }
    log::Warn("cluster: reloaded the catalog at etcd revision {} ({} keys, {} instances gone meanwhile); "
              "watchers start again from a snapshot",
              revision, loaded, gone.size());
  }
  registry_.ResetHistory(AfterRevision(revision));
  SetApplied(revision);
  return absl::OkStatus();
}

void CatalogFollower::Start() {
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void CatalogFollower::Stop() {
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    waiters_stopped_ = true;
  }
  ReleaseWaiters(false);
}

void CatalogFollower::Restart() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (context_ != nullptr) context_->TryCancel();
}

void CatalogFollower::Completed(Op op, bool ok) {
  {
    std::lock_guard<std::mutex> lock(steps_mu_);
    outcome_[static_cast<int>(op)] = ok;
  }
  step_done_.notify_all();
}

bool CatalogFollower::Await(Op op) {
  std::unique_lock<std::mutex> lock(steps_mu_);
  std::optional<bool>& outcome = outcome_[static_cast<int>(op)];
  step_done_.wait(lock, [&] { return outcome.has_value(); });
  const bool ok = *outcome;
  outcome.reset();
  return ok;
}

void CatalogFollower::Run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      if (stopping_) return;
    }
    if (!Watch()) {
      // The history after the applied revision is compacted: load it all again.
      while (true) {
        {
          std::lock_guard<std::mutex> lock(stream_mu_);
          if (stopping_) return;
        }
        const absl::Status loaded = Load();
        if (loaded.ok()) break;
        log::Warn("cluster: {}; trying again", std::string(loaded.message()));
        std::this_thread::sleep_for(kRetryDelay);
      }
      continue;
    }
    std::this_thread::sleep_for(kRetryDelay);
  }
}

bool CatalogFollower::Watch() {
  QueueEvent* start = &steps_[static_cast<int>(Op::kStart)];
  QueueEvent* write = &steps_[static_cast<int>(Op::kWrite)];
  QueueEvent* read = &steps_[static_cast<int>(Op::kRead)];
  QueueEvent* finish = &steps_[static_cast<int>(Op::kFinish)];
  const size_t endpoint = endpoints_.current();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stopping_) return true;
    grpc::CompletionQueue* queue = queue_.Acquire();
    if (queue == nullptr) return true;  // not serving yet, or stopping: the caller waits and tries again
    stream = endpoints_.at(endpoint).watch->PrepareAsyncWatch(&context, queue);
    context_ = &context;
    stream->StartCall(start);
  }
  bool open = Await(Op::kStart);
  if (open) {
    etcdserverpb::WatchRequest request;
    etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(keys_.prefix());
    create->set_range_end(keys_.PrefixEnd());
    create->set_start_revision(applied_revision() + 1);
    stream->Write(request, write);
    open = Await(Op::kWrite);
  }
  bool compacted = false;
  etcdserverpb::WatchResponse response;
  while (open) {
    stream->Read(&response, read);
    if (!Await(Op::kRead)) break;
    if (response.compact_revision() != 0) {
      log::Warn("cluster: etcd compacted its history past revision {} while this node was at {}",
                response.compact_revision(), applied_revision());
      compacted = true;
      break;
    }
    if (response.canceled()) {
      log::Warn("cluster: etcd cancelled the watch: {}", response.cancel_reason());
      break;
    }
    int64_t newest = 0;
    for (const mvccpb::Event& event : response.events()) {
      const mvccpb::KeyValue& kv = event.kv();
      if (kv.mod_revision() != event_revision_) {
        event_revision_ = kv.mod_revision();
        removal_reason_ = RemovalReason::kDeregistered;  // unless the Txn says otherwise
        registry_.BeginRevision(RegistryRevision(event_revision_));
      }
      if (event.type() == mvccpb::Event::PUT) {
        ApplyPut(kv, false);
      } else {
        ApplyDelete(kv, false);
      }
      newest = std::max(newest, kv.mod_revision());
    }
    // Events come whole per revision: after a response with events, its
    // newest revision is applied. (Progress notifications are not asked for:
    // etcd 3.4 answers a progress request with its current revision even
    // while events before it are still on their way, etcd-io/etcd#15220.)
    if (response.events_size() > 0) SetApplied(newest);
  }
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    context_ = nullptr;
    stopping = stopping_;
  }
  context.TryCancel();
  grpc::Status status;
  stream->Finish(&status, finish);
  Await(Op::kFinish);
  queue_.Release();
  if (stopping) return true;
  if (!compacted) {
    endpoints_.Failed(endpoint);
    log::Warn("cluster: the etcd watch on {} ended ({}); resuming from revision {}", endpoints_.at(endpoint).url,
              status.error_message(), applied_revision() + 1);
  }
  return !compacted;
}

void CatalogFollower::ApplyPut(const mvccpb::KeyValue& kv, bool quiet) {
  const EtcdKeys::Parsed parsed = keys_.Parse(kv.key());
  if (const auto* key = std::get_if<InstanceKey>(&parsed)) {
    std::optional<DecodedInstance> decoded = DecodeInstance(kv.value());
    const bool matches = decoded && (key->seed_id ? decoded->state.spec.seed_id == key->seed_id
                                                  : !decoded->state.spec.seed_id &&
                                                        decoded->state.spec.service == key->service &&
                                                        decoded->state.spec.instance_id == key->instance_id);
    if (!matches) {
      log::Error("cluster: etcd key {} holds no instance registryd can read; ignored", kv.key());
      return;
    }
    ReplicatedInstance& state = decoded->state;
    state.holder = nodes_.SlotOf(decoded->holder);
    state.stored_revision = static_cast<uint64_t>(kv.mod_revision());
    if (const absl::Status applied = registry_.Apply(state, quiet); !applied.ok()) {
      log::Error("cluster: etcd key {}: {}; ignored", kv.key(), std::string(applied.message()));
    }
  } else if (const auto* session = std::get_if<SessionKey>(&parsed)) {
    std::optional<DecodedSession> decoded = DecodeSession(kv.value());
    if (!decoded || decoded->state.id != session->id) {
      log::Error("cluster: etcd key {} holds no session registryd can read; ignored", kv.key());
      return;
    }
    decoded->state.holder = nodes_.SlotOf(decoded->holder);
    decoded->state.stored_revision = static_cast<uint64_t>(kv.mod_revision());
    registry_.ApplySession(decoded->state, session_handover_);
  } else if (const auto* node = std::get_if<NodeKey>(&parsed)) {
    StoredNode stored;
    stored.ParseFromString(kv.value());
    nodes_.SetLive(node->name, stored.address());
  } else if (std::holds_alternative<RemovalMarkerKey>(parsed)) {
    RemovalMarker marker;
    if (marker.ParseFromString(kv.value()) && marker.reason() <= static_cast<uint32_t>(RemovalReason::kEjected)) {
      removal_reason_ = static_cast<RemovalReason>(marker.reason());
    }
  }
}

void CatalogFollower::ApplyDelete(const mvccpb::KeyValue& kv, bool quiet) {
  const EtcdKeys::Parsed parsed = keys_.Parse(kv.key());
  if (const auto* key = std::get_if<InstanceKey>(&parsed)) {
    if (const std::optional<Removal> removed = registry_.ApplyRemoval(*key, removal_reason_, quiet)) {
      proof_.NoteRemoved({ViewProof::KeyKind::kLease, removed->lease});
    }
  } else if (const auto* session = std::get_if<SessionKey>(&parsed)) {
    registry_.ApplySessionRemoval(session->id);
    proof_.NoteRemoved({ViewProof::KeyKind::kSession, session->id});
  } else if (const auto* node = std::get_if<NodeKey>(&parsed)) {
    nodes_.SetGone(node->name);
    events_.OnNodeGone(node->name);
  }
}

void CatalogFollower::SetApplied(int64_t revision) {
  if (revision <= applied_revision()) return;
  registry_.BeginRevision(AfterRevision(revision));
  applied_.store(revision, std::memory_order_release);
  ReleaseWaiters(true);
}

void CatalogFollower::WhenApplied(int64_t revision, absl::AnyInvocable<void(bool) &&> done,
                                  std::optional<Duration> patience) {
  bool stopped;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    stopped = waiters_stopped_;
    if (!stopped && applied_revision() < revision) {
      const auto give_up = patience ? std::chrono::steady_clock::now() + *patience
                                    : std::chrono::steady_clock::time_point::max();
      waiters_.push_back(Waiter{revision, std::move(done), give_up});
      return;
    }
  }
  // Stopped: a write answered during the shutdown (the committer stops
  // after the follower) is told at once, while its owner still exists.
  std::move(done)(!stopped);
}

void CatalogFollower::ExpireWaiters() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Waiter> expired;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    auto kept = std::partition(waiters_.begin(), waiters_.end(),
                               [&](const Waiter& waiter) { return waiter.give_up > now; });
    std::move(kept, waiters_.end(), std::back_inserter(expired));
    waiters_.erase(kept, waiters_.end());
  }
  for (Waiter& waiter : expired) std::move(waiter.done)(true);
}

void CatalogFollower::ReleaseWaiters(bool applied) {
  std::vector<Waiter> released;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    const int64_t upto = applied_revision();
    auto ready = std::partition(waiters_.begin(), waiters_.end(),
                                [&](const Waiter& waiter) { return applied && waiter.revision > upto; });
    std::move(ready, waiters_.end(), std::back_inserter(released));
    waiters_.erase(ready, waiters_.end());
  }
  for (Waiter& waiter : released) std::move(waiter.done)(applied);
}

}  // namespace registryd::cluster
