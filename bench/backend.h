// A benchmark target's way of doing each registry operation, so that every
// scenario is written once and runs against registryd through either API, the
// constant-reply ceiling, and etcd.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>

#include "bench/load_driver.h"
#include "client/client_tls.h"

namespace registryd::bench {

enum class Api { kNative, kSeed, kEtcd };

// `count` channels to one address, each a TCP connection of its own; or to
// several ("host:port,host:port"), each call to the next (round_robin).
class Connections {
 public:
  Connections(const ChannelFactory& factory, const std::string& address, int count);

  const std::vector<std::shared_ptr<grpc::Channel>>& channels() const { return channels_; }
  // True once every channel is connected (waits up to 30 s).
  bool WaitConnected();
  // True once no channel is connected any more (waits up to 30 s): after the
  // server stopped, so that no call goes to a connection it has closed.
  bool WaitDisconnected();

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

struct Registration {
  std::string service;
  uint64_t instance = 0;  // distinct per live instance; the seed API's serverId
  uint32_t ttl_ms = 0;
};

// Every Start* starts one operation on `cq` and returns it; `sequence`
// spreads operations over the connections. A lease handle is what the target
// renews by: a native lease id, a seed serverId, an etcd lease id.
class Backend {
 public:
  virtual ~Backend() = default;

  // On success, stores the new lease handle in *lease (which must outlive the call).
  virtual std::unique_ptr<PendingCall> StartRegister(uint64_t sequence, grpc::CompletionQueue* cq,
                                                     const Registration& registration, uint64_t* lease) = 0;
  virtual std::unique_ptr<PendingCall> StartHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq,
                                                      uint64_t lease) = 0;
  // A heartbeat as one exchange on a stream (native KeepAlive, etcd
  // LeaseKeepAlive); nullptr for an API without one (the seed's).
  virtual std::unique_ptr<PendingCall> StartStreamHeartbeat(uint64_t /*sequence*/, grpc::CompletionQueue* /*cq*/,
                                                            uint64_t /*lease*/) {
    return nullptr;
  }
  // Stream heartbeats use at least `count` streams from now on, as that
  // many clients of a stream each would.
  virtual void set_min_streams(size_t /*count*/) {}
  // False for the seed API, which cannot deregister.
  virtual bool CanDeregister() const { return true; }
  virtual std::unique_ptr<PendingCall> StartDeregister(uint64_t sequence, grpc::CompletionQueue* cq,
                                                       uint64_t lease) = 0;
  // All instances of a service (native Discover, etcd Range), or one (seed findServer).
  virtual std::unique_ptr<PendingCall> StartDiscover(uint64_t sequence, grpc::CompletionQueue* cq,
                                                     const std::string& service) = 0;
  // Ends the streams the operations opened on `cq` (see StreamCloser).
  virtual int CloseStreams(grpc::CompletionQueue*) { return 0; }
};

std::unique_ptr<Backend> MakeRegistrydBackend(Api api, const Connections& connections);
std::unique_ptr<Backend> MakeEtcdBackend(const Connections& connections);

}  // namespace registryd::bench
