#include "server/queue/watch_hub.h"

#include <bit>

namespace registryd {

void WatchHub::Add(Watcher* watcher) {
  watchers_.insert(watcher);
  watcher_count_.store(watchers_.size(), std::memory_order_release);
}

void WatchHub::Remove(Watcher* watcher) {
  watchers_.erase(watcher);
  watcher_count_.store(watchers_.size(), std::memory_order_release);
}

const WatchHub::SharedResponse* WatchHub::FindResponse(const std::string& service, uint64_t after, uint64_t upto) const {
  const auto it = responses_.find(ResponseKey{service, after, upto});
  return it == responses_.end() ? nullptr : &it->second;
}

void WatchHub::StoreResponse(const std::string& service, uint64_t after, uint64_t upto,
                             const grpc::ByteBuffer& response, size_t events) {
  if (responses_.size() >= kMaxSharedResponses) responses_.clear();
  // The buffer shares the response's slices.
  responses_.insert_or_assign(ResponseKey{service, after, upto}, SharedResponse{response, events});
}

void WatchHub::Poke(uint32_t shard) {
  // No watcher here: nothing to wake. One that arrives later starts from a
  // snapshot or the log, so it misses nothing.
  if (watcher_count_.load(std::memory_order_acquire) == 0) return;
  poked_shards_[shard / 64].fetch_or(uint64_t{1} << (shard % 64), std::memory_order_acq_rel);
  SetWake();
}

void WatchHub::WakeAll() {
  if (watcher_count_.load(std::memory_order_acquire) == 0) return;
  wake_all_.store(true, std::memory_order_release);
  SetWake();
}

void WatchHub::SetWake() {
  if (wake_set_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is on its way
  ServingQueue::StartGuard guard(queue_);
  if (guard.accepting()) alarm_.Set(queue_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), this);
}

void WatchHub::Proceed(bool ok) {
  if (!ok) return;  // cancelled at shutdown
  // Cleared before the shards are taken: a poke from now on sets a new wake.
  wake_set_.store(false, std::memory_order_release);
  std::array<uint64_t, kShardWords> poked{};
  for (uint32_t word = 0; word < kShardWords; ++word) {
    poked[word] = poked_shards_[word].exchange(0, std::memory_order_acq_rel);
  }
  const bool all = wake_all_.exchange(false, std::memory_order_acq_rel);
  const auto reads_a_poked_shard = [&](const Watcher& watcher) {
    if (all) return true;
    for (uint32_t word = 0; word < kShardWords; ++word) {
      for (uint64_t bits = poked[word]; bits != 0; bits &= bits - 1) {
        if (watcher.Reads(word * 64 + static_cast<uint32_t>(std::countr_zero(bits)))) return true;
      }
    }
    return false;
  };
  // Pump() may end a stream, which removes it from watchers_: iterate a copy.
  const std::vector<Watcher*> watchers(watchers_.begin(), watchers_.end());
  for (Watcher* watcher : watchers) {
    if (watchers_.contains(watcher) && reads_a_poked_shard(*watcher)) watcher->Pump();
  }
}

}  // namespace registryd
