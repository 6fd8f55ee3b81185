// registry.v1.Registry/Watch: a snapshot, then changes, on one server stream.
// One WatchCall object serves one stream, on its queue's thread:
//
//   requested --ok--> (requests the next stream) validate, join the hub,
//                     Pump(): write what the feed has --ok--> Pump() ...
//                     (nothing new: idle until the hub wakes the stream)
//   a write --!ok--> or the done tag (client gone, server stopping)
//                --> leave the hub, Finish once no write is under way
//   the object deletes itself once Finish's tag and the done tag are back.
//
// One write at a time: what piles up meanwhile stays in the shards' change
// logs, not here, and comes coalesced when the stream falls behind.
#pragma once

#include <memory>
#include <optional>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include "core/registry.h"
#include "core/watch_feed.h"
#include "server/lenient_services.h"
#include "server/queue_event.h"
#include "server/serving_queue.h"
#include "server/watch_hub.h"

namespace registryd {

class WatchCall final : public Watcher {
 public:
  // Events per response: a large snapshot goes out in parts.
  static constexpr size_t kMaxEventsPerResponse = 1000;

  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(NativeRegistryService& service, ServingQueue& queue, Registry& registry, WatchHub& hub);

  bool Reads(uint32_t shard) const override { return feed_ && feed_->Reads(shard); }
  void Pump() override;

 private:
  WatchCall(NativeRegistryService& service, ServingQueue& queue, Registry& registry, WatchHub& hub);

  void OnStarted(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDone(bool ok);

  // Puts the next response into response_: the rest of the batch being
  // sent, or what is new. False when there is nothing to send.
  bool NextResponse();
  // The changes up to the registry's revision, if another stream of the
  // same service and revision had them serialized already.
  bool SharedResponse();
  void End(const grpc::Status& status);
  // Finish, once no write is under way.
  void FinishWhenIdle();
  void DeleteWhenIdle();

  NativeRegistryService& service_;
  ServingQueue& queue_;
  Registry& registry_;
  WatchHub& hub_;
  grpc::ServerContext context_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  CallStep<WatchCall> started_{*this, &WatchCall::OnStarted};
  CallStep<WatchCall> written_{*this, &WatchCall::OnWritten};
  CallStep<WatchCall> finished_{*this, &WatchCall::OnFinished};
  CallStep<WatchCall> done_{*this, &WatchCall::OnDone};
  lenient::WatchRequest request_;
  grpc::ByteBuffer response_;
  std::optional<WatchFeed> feed_;
  std::optional<WatchBatch> batch_;  // being sent
  size_t batch_sent_ = 0;            // its events sent so far
  bool writing_ = false;
  std::optional<grpc::Status> ending_;  // set once the stream is to end
  bool finish_started_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
