// registry_ceiling's streams, plain async gRPC:
// - KeepAlive: read a request, write a constant answer, read again.
// - Watch: an empty snapshot, then each Register call on any queue as an
//   ADDED event, serialized once and written to every open stream; a stream
//   still writing when newer events come sends only the latest: a lower
//   bound on what any Watch delivery costs. A Register wakes each queue's
//   streams with one alarm per queue, however many calls come meanwhile.
// - ADS (xDS, state of the world), a ceiling for one service: the first ADS
//   request names it, and every stream gets its ClusterLoadAssignment. From
//   then on each Register of it updates its instances (instance id ->
//   host:port; those registered before are not kept, nor any other
//   service's) and builds the assignment once, as one DiscoveryResponse
//   serialized once and written to every stream as Watch's events are (the
//   latest only, one alarm per queue). A stream keeps a read pending, gets
//   the state at its first request, and parses and ignores the others (ACKs).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_set.h"
#include "bench/ceiling_queue.h"
#include "envoy/discovery.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::ceiling {

// Discover and Watch go as bytes: one serialization shared by every call.
using NativeService = registry::v1::Registry::WithRawMethod_Discover<
    registry::v1::Registry::WithRawMethod_Watch<registry::v1::Registry::AsyncService>>;

// The ADS stream goes as bytes too: its responses are shared, its requests
// parsed by the stream.
using AdsService = envoy::service::discovery::v3::AggregatedDiscoveryService::
    WithRawMethod_StreamAggregatedResources<envoy::service::discovery::v3::AggregatedDiscoveryService::AsyncService>;

class WatchStream;
class AdsStream;

// One queue's open streams of one kind and the alarm that wakes them to Pump().
template <typename Stream>
class StreamWake final : public QueueEvent {
 public:
  explicit StreamWake(CeilingQueue& queue) : queue_(queue) {}
  // On the queue's thread.
  void Add(Stream* stream) { streams_.insert(stream); }
  void Remove(Stream* stream) { streams_.erase(stream); }
  // Any thread.
  void Poke();
  // Before the server shuts down: no alarm is set from then on.
  void Close();
  void Proceed(bool ok) override;

 private:
  CeilingQueue& queue_;
  std::mutex alarm_mu_;  // a leaf lock: Poke runs inside other queues' Proceed
  bool closed_ = false;
  grpc::Alarm alarm_;
  std::atomic<bool> wake_set_{false};
  absl::flat_hash_set<Stream*> streams_;
};
// Defined in ceiling_streams.cc, for these two.
extern template class StreamWake<WatchStream>;
extern template class StreamWake<AdsStream>;
using WatchWake = StreamWake<WatchStream>;
using AdsWake = StreamWake<AdsStream>;

// The ADS ceiling's one service: its instances and its latest response.
class AdsBroadcast {
 public:
  AdsWake& AddQueue(CeilingQueue& queue) { return *wakes_.emplace_back(std::make_unique<AdsWake>(queue)); }
  void Close() {
    for (const auto& wake : wakes_) wake->Close();
  }

  // Any thread. The first call names the service, whose (empty) state is
  // the first response; later calls change nothing.
  void Subscribe(const std::string& service);
  // Any thread: a Register; of the service, it makes a new response.
  void Publish(const registry::v1::RegisterRequest& request);
  // The latest response if it is newer than *seen (then updated).
  bool Latest(uint64_t* seen, grpc::ByteBuffer* response);

 private:
  void BuildLocked();

  std::vector<std::unique_ptr<AdsWake>> wakes_;
  std::atomic<bool> subscribed_{false};  // before that, a Register takes no lock here
  std::mutex mu_;
  std::string service_;
  std::map<std::string, std::string> instances_;  // instance id -> host:port, in id order
  uint64_t version_ = 0;                         // of latest_, also its nonce
  grpc::ByteBuffer latest_;
};

class Broadcast {
 public:
  explicit Broadcast(AdsBroadcast& ads) : ads_(ads) {}
  WatchWake& AddQueue(CeilingQueue& queue) { return *wakes_.emplace_back(std::make_unique<WatchWake>(queue)); }
  void Close() {
    for (const auto& wake : wakes_) wake->Close();
  }

  // Any thread: to the Watch streams, and to the ADS streams' service.
  void Publish(const registry::v1::RegisterRequest& request);
  // The latest event's response if it is newer than *seen (then updated).
  bool Latest(uint64_t* seen, grpc::ByteBuffer* response);

 private:
  AdsBroadcast& ads_;
  std::vector<std::unique_ptr<WatchWake>> wakes_;
  std::mutex mu_;
  uint64_t revision_ = 0;
  grpc::ByteBuffer latest_;
};

// Owns itself from Start until its last tag is back; a read or a write is
// always pending until Finish, so a cancelled stream ends through its failure.
class KeepAliveStream {
 public:
  static void Start(NativeService& service, CeilingQueue& queue);

 private:
  KeepAliveStream(NativeService& service, CeilingQueue& queue) : service_(service), queue_(queue) {}
  void OnStarted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void Finish();

  NativeService& service_;
  CeilingQueue& queue_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<registry::v1::KeepAliveResponse, registry::v1::KeepAliveRequest> stream_{&context_};
  CallStep<KeepAliveStream> started_{*this, &KeepAliveStream::OnStarted};
  CallStep<KeepAliveStream> read_{*this, &KeepAliveStream::OnRead};
  CallStep<KeepAliveStream> written_{*this, &KeepAliveStream::OnWritten};
  CallStep<KeepAliveStream> finished_{*this, &KeepAliveStream::OnFinished};
  registry::v1::KeepAliveRequest request_;
  registry::v1::KeepAliveResponse response_;
};

// Owns itself from Start until its last tag is back. An idle stream has no
// operation pending, so it learns that its client left from the done tag.
class WatchStream {
 public:
  static void Start(NativeService& service, CeilingQueue& queue, Broadcast& broadcast, WatchWake& wake);
  // Writes the latest event unless a write is under way (its completion will).
  void Pump();

 private:
  WatchStream(NativeService& service, CeilingQueue& queue, Broadcast& broadcast, WatchWake& wake)
      : service_(service), queue_(queue), broadcast_(broadcast), wake_(wake) {}
  void OnStarted(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDone(bool ok);
  void Write();
  void End();
  void DeleteWhenIdle();

  NativeService& service_;
  CeilingQueue& queue_;
  Broadcast& broadcast_;
  WatchWake& wake_;
  grpc::ServerContext context_;
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_{&context_};
  CallStep<WatchStream> started_{*this, &WatchStream::OnStarted};
  CallStep<WatchStream> written_{*this, &WatchStream::OnWritten};
  CallStep<WatchStream> finished_{*this, &WatchStream::OnFinished};
  CallStep<WatchStream> done_{*this, &WatchStream::OnDone};
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  uint64_t seen_ = 0;
  bool writing_ = false;
  bool ending_ = false;
  bool finish_started_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

// Owns itself from Start until its last tag is back. A read is always
// pending: a client that leaves fails it (or the write under way), and the
// done tag comes too.
class AdsStream {
 public:
  static void Start(AdsService& service, CeilingQueue& queue, AdsBroadcast& ads, AdsWake& wake);
  // Writes the latest response unless a write is under way (its completion
  // will) or no request came yet.
  void Pump();

 private:
  AdsStream(AdsService& service, CeilingQueue& queue, AdsBroadcast& ads, AdsWake& wake)
      : service_(service), queue_(queue), ads_(ads), wake_(wake) {}
  void OnStarted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDone(bool ok);
  void Read();
  void Write();
  void End(grpc::Status status);
  void DeleteWhenIdle();

  AdsService& service_;
  CeilingQueue& queue_;
  AdsBroadcast& ads_;
  AdsWake& wake_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> stream_{&context_};
  CallStep<AdsStream> started_{*this, &AdsStream::OnStarted};
  CallStep<AdsStream> read_{*this, &AdsStream::OnRead};
  CallStep<AdsStream> written_{*this, &AdsStream::OnWritten};
  CallStep<AdsStream> finished_{*this, &AdsStream::OnFinished};
  CallStep<AdsStream> done_{*this, &AdsStream::OnDone};
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::Status status_;  // what Finish sends
  uint64_t seen_ = 0;
  bool subscribed_ = false;  // the first request came
  bool reading_ = false;
  bool writing_ = false;
  bool ending_ = false;
  bool finish_started_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd::ceiling
