// Wakes the Watch streams of one queue when the registry changes.
//
// Whoever changes a shard calls Poke(shard) (through WatchHubs, the
// registry's change listener), on any thread. The first poke since the last
// wake sets the hub's alarm to fire at once on its queue; the queue thread
// then has every idle stream that reads a poked shard send what is new. So a
// change costs the thread that made it an atomic or two per queue, and at
// most one alarm per queue however many changes and watchers there are; the
// work of fanning out happens on the watchers' own queue threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/lease_id.h"
#include "core/registry.h"
#include "core/queue_event.h"
#include "server/queue/serving_queue.h"

namespace registryd {

// A stream the hub can wake. Called on the hub's queue thread.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual bool Reads(uint32_t shard) const = 0;
  // Sends what is new, unless a write is under way (its completion will).
  virtual void Pump() = 0;
};

class WatchHub final : public QueueEvent {
 public:
  explicit WatchHub(ServingQueue& queue) : queue_(queue) {}

  // On the queue's thread.
  void Add(Watcher* watcher);
  void Remove(Watcher* watcher);

  // Any thread.
  void Poke(uint32_t shard);
  // Has every stream look again, whatever it reads: after a policy reload,
  // so that an idle stream learns at once that it may no longer read.
  void WakeAll();
  // Only inside ServingQueue::Close(): cancelling delivers the tag with ok=false.
  void Cancel() { alarm_.Cancel(); }

  void Proceed(bool ok) override;

  // Serialized responses of the changes to `service` in (after, upto], for
  // the other streams of the same service at the same revision: one
  // serialization per batch instead of one per stream. On the queue's thread.
  struct SharedResponse {
    grpc::ByteBuffer buffer;
    size_t events;
  };
  const SharedResponse* FindResponse(const std::string& service, uint64_t after, uint64_t upto) const;
  void StoreResponse(const std::string& service, uint64_t after, uint64_t upto, const grpc::ByteBuffer& response,
                     size_t events);

 private:
  static constexpr size_t kMaxSharedResponses = 64;  // then the cache starts over
  using ResponseKey = std::tuple<std::string, uint64_t, uint64_t>;

  static constexpr uint32_t kShardWords = (1u << kMaxShardBits) / 64;

  void SetWake();

  ServingQueue& queue_;
  grpc::Alarm alarm_;
  std::atomic<bool> wake_set_{false};
  std::atomic<bool> wake_all_{false};
  std::array<std::atomic<uint64_t>, kShardWords> poked_shards_{};
  std::atomic<size_t> watcher_count_{0};
  absl::flat_hash_set<Watcher*> watchers_;
  absl::flat_hash_map<ResponseKey, SharedResponse> responses_;
};

// The registry's change listener: tells every queue's hub.
class WatchHubs final : public ChangeListener {
 public:
  WatchHub& Add(ServingQueue& queue) { return *hubs_.emplace_back(std::make_unique<WatchHub>(queue)); }
  WatchHub& operator[](size_t queue) { return *hubs_[queue]; }
  void OnChanges(uint32_t shard) override {
    for (const auto& hub : hubs_) hub->Poke(shard);
  }
  void WakeAll() {
    for (const auto& hub : hubs_) hub->WakeAll();
  }

 private:
  std::vector<std::unique_ptr<WatchHub>> hubs_;
};

}  // namespace registryd
