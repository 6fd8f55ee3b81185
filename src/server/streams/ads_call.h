// envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources
// (state of the world): a gRPC xDS client's one stream for all its targets.
// One AdsCall object serves one stream, on its queue's thread, with a read
// always pending (the client may change its subscriptions or answer at any
// time) and at most one write:
//
//   requested --ok--> (requests the next stream) read, join the queue's hub
//   read --ok--> parse, AdsSubscriptions::Apply (a bad request ends the stream
//                with INVALID_ARGUMENT), read again; Pump() if a response
//                became due (a first request, or other names)
//   Pump(): unless a write is under way, the first type (Listener, Route-
//           Configuration, Cluster, ClusterLoadAssignment) with a response
//           due is written --ok--> Pump() ... (nothing due: idle until a read
//           or the hub wakes the stream: a change in a shard one of its
//           ClusterLoadAssignments reads)
//   Under a policy, each request's names need read on them; once the policy
//   was reloaded, Pump() checks every subscribed name again before anything
//   more is sent (the hubs wake every stream on a reload), and a refusal
//   ends the stream with it.
//   read --!ok--> (the client closed its side), write --!ok-->, or the done
//           tag (client gone, server stopping) --> leave the hub; Finish once
//           neither a read nor a write is under way
//   the object deletes itself once Finish's tag and the done tag are back.
//
// A burst of changes coalesces: what changed while a response was being
// written goes out in the next one, as the registry shows it then.
#pragma once

#include <optional>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "core/queue_event.h"
#include "server/streams/ads_service.h"
#include "server/queue/serving_queue.h"
#include "server/queue/stream_caller.h"
#include "server/queue/watch_hub.h"
#include "server/streams/xds_resource_cache.h"
#include "xds/ads_subscriptions.h"

namespace registryd {

class AdsCall final : public Watcher {
 public:
  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(AdsService& service, ServingQueue& queue, XdsResourceCache& resources, WatchHub& hub);

  bool Reads(uint32_t shard) const override;
  void Pump() override;

 private:
  AdsCall(AdsService& service, ServingQueue& queue, XdsResourceCache& resources, WatchHub& hub)
      : service_(service), queue_(queue), resources_(resources), hub_(hub), stream_(&context_) {}

  void OnStarted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDone(bool ok);
  // Applies the request read; an error status ends the stream. `due`: a
  // response became due.
  grpc::Status Handle(bool& due);
  // Writes the response of `type` if one is due; false if none was.
  bool WriteIfDue(xds::ResourceType type);
  // Under a policy reloaded since the subscriptions were last checked:
  // whether the caller may still read every subscribed name.
  grpc::Status AuthorizeSubscriptionsIfReloaded();
  bool StartRead();
  void End(const grpc::Status& status);
  void FinishWhenIdle();
  void DeleteWhenIdle();

  AdsService& service_;
  ServingQueue& queue_;
  XdsResourceCache& resources_;
  WatchHub& hub_;
  xds::AdsSubscriptions subscriptions_;
  std::vector<uint32_t> load_shards_;  // the shards of the subscribed services
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_;
  CallStep<AdsCall> started_{*this, &AdsCall::OnStarted};
  CallStep<AdsCall> read_{*this, &AdsCall::OnRead};
  CallStep<AdsCall> written_{*this, &AdsCall::OnWritten};
  CallStep<AdsCall> finished_{*this, &AdsCall::OnFinished};
  CallStep<AdsCall> done_{*this, &AdsCall::OnDone};
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::string client_;  // the node id, for the log
  StreamCaller caller_;  // every subscription checked again after each policy reload
  bool reading_ = false;
  bool writing_ = false;
  std::optional<grpc::Status> ending_;  // set once the stream is to end
  bool finish_started_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
