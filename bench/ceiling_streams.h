// registry_ceiling's streams: registryd's KeepAlive and Watch state machines
// (KeepAliveCall, WatchCall, WatchHub) with constant answers instead of the
// registry, so that registryd/ceiling isolates what the registry's streams
// cost beyond gRPC's.
#pragma once

#include <cstdint>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "core/mutex.h"
#include "registry/v1/registry.pb.h"
#include "server/lenient_services.h"
#include "server/watch_hub.h"

namespace registryd {

// A KeepAlive stream's answer: every lease lives 60 s.
class CannedKeepAlive {
 public:
  struct Backend {};
  explicit CannedKeepAlive(Backend&) {}
  registry::v1::KeepAliveResponse Renew(const registry::v1::KeepAliveRequest& request) const {
    registry::v1::KeepAliveResponse response;
    response.set_lease_id(request.lease_id());
    response.set_ttl_ms(60'000);
    return response;
  }
  void Release() {}
};

// The ceiling's Watch: each Register call becomes an ADDED event of the
// registered instance, which every open Watch stream is woken to send. A
// stream that is still writing when newer events come sends only the
// latest: a lower bound on what any Watch delivery costs.
class WatchBroadcast {
 public:
  explicit WatchBroadcast(WatchHubs& hubs) : hubs_(hubs) {}

  // Any thread.
  void Publish(const lenient::RegisterRequest& request);
  // The latest event's response if it is newer than *seen (then updated).
  bool Latest(uint64_t* seen, grpc::ByteBuffer* response) const;

 private:
  WatchHubs& hubs_;
  mutable Mutex mu_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ByteBuffer latest_ ABSL_GUARDED_BY(mu_);
};

// What one ceiling Watch stream sends: an empty snapshot, then the broadcast.
class BroadcastResponses {
 public:
  using Backend = WatchBroadcast;
  BroadcastResponses(WatchBroadcast& broadcast, WatchHub&) : broadcast_(broadcast) {}

  grpc::Status Open(const lenient::WatchRequest&) { return grpc::Status::OK; }
  bool Reads(uint32_t) const { return true; }
  bool Next(grpc::ByteBuffer& response);

 private:
  WatchBroadcast& broadcast_;
  bool snapshot_sent_ = false;
  uint64_t seen_ = 0;
};

}  // namespace registryd
