// registry_ceiling's streams, plain async gRPC:
// - KeepAlive: read a request, write a constant answer, read again.
// - Watch: an empty snapshot, then each Register call on any queue as an
//   ADDED event, serialized once and written to every open stream; a stream
//   still writing when newer events come sends only the latest: a lower
//   bound on what any Watch delivery costs. A Register wakes each queue's
//   streams with one alarm per queue, however many calls come meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_set.h"
#include "bench/ceiling_queue.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::ceiling {

// Discover and Watch go as bytes: one serialization shared by every call.
using NativeService = registry::v1::Registry::WithRawMethod_Discover<
    registry::v1::Registry::WithRawMethod_Watch<registry::v1::Registry::AsyncService>>;

class WatchStream;

// One queue's open Watch streams and the alarm that wakes them.
class WatchWake final : public QueueEvent {
 public:
  explicit WatchWake(CeilingQueue& queue) : queue_(queue) {}
  // On the queue's thread.
  void Add(WatchStream* stream) { streams_.insert(stream); }
  void Remove(WatchStream* stream) { streams_.erase(stream); }
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
  absl::flat_hash_set<WatchStream*> streams_;
};

class Broadcast {
 public:
  WatchWake& AddQueue(CeilingQueue& queue) { return *wakes_.emplace_back(std::make_unique<WatchWake>(queue)); }
  void Close() {
    for (const auto& wake : wakes_) wake->Close();
  }

  // Any thread.
  void Publish(const registry::v1::RegisterRequest& request);
  // The latest event's response if it is newer than *seen (then updated).
  bool Latest(uint64_t* seen, grpc::ByteBuffer* response);

 private:
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

}  // namespace registryd::ceiling
