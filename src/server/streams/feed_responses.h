// What one Watch stream of registryd sends: its WatchFeed's snapshot and
// changes, serialized as WatchResponses of at most kMaxEventsPerResponse
// events, or the response another stream of the same service at the same
// revision serialized already (kept by the queue's WatchHub). The stream's
// state machine is WatchCall<FeedResponses>.
#pragma once

#include <optional>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "auth/caller.h"
#include "core/registry.h"
#include "core/watch_feed.h"
#include "metrics/thread_metrics.h"
#include "server/queue/lenient_services.h"
#include "server/queue/serving_queue.h"
#include "server/queue/watch_hub.h"

namespace registryd {

class FeedResponses {
 public:
  using Backend = Registry;
  using Service = NativeRegistryService;
  using Request = lenient::WatchRequest;
  static constexpr auto kRequest = &Service::RequestWatchLenient;
  static constexpr std::string_view kName = "registry.v1.Registry/Watch";
  static constexpr metrics::StreamKind kStreamKind = metrics::StreamKind::kWatch;
  // Cancelled at shutdown (its clients see CANCELLED and reconnect).
  static constexpr ServingQueue::AtClose kAtClose = ServingQueue::AtClose::kCancel;
  // Events per response: a large snapshot goes out in parts.
  static constexpr size_t kMaxEventsPerResponse = 1000;

  FeedResponses(Registry& registry, WatchHub& hub) : registry_(registry), hub_(hub) {}

  // Checks the request and starts the feed; an error ends the stream.
  // A service's changes need read on it; every service's, read on all.
  static absl::Status Authorize(const lenient::WatchRequest& request, const auth::Caller& caller);
  grpc::Status Open(const lenient::WatchRequest& request);
  bool Reads(uint32_t shard) const { return feed_ && feed_->Reads(shard); }
  // The next response: the rest of the batch being sent, or what is new.
  // False when there is nothing to send.
  bool Next(grpc::ByteBuffer& response);
  // A registry watch ends only when its client leaves or the server stops.
  std::optional<grpc::Status> Ended() const { return std::nullopt; }

 private:
  // The changes up to the registry's revision, if another stream of the
  // same service and revision had them serialized already.
  bool SharedResponse(grpc::ByteBuffer& response);

  Registry& registry_;
  WatchHub& hub_;
  std::optional<WatchFeed> feed_;
  std::optional<WatchBatch> batch_;  // being sent
  size_t batch_sent_ = 0;            // its events sent so far
};

}  // namespace registryd
