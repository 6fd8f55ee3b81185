// etcd v3 driven the way a registry on etcd works: a registration is a lease
// grant then a put of the instance's key with that lease; a heartbeat is a
// keep-alive on a LeaseKeepAlive stream; deregistration revokes the lease
// (which deletes the key); discovery is a range over the service's prefix,
// serializable (served by the member alone: etcd's fastest read). Range
// replies are received but not parsed, as registryd's Discover replies are.
#include "bench/backend.h"
#include "bench/stream_pool.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"

namespace registryd::bench {
namespace {

std::string ServicePrefix(const std::string& service) { return "/registry/" + service + "/"; }

// The end of the key range holding every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

class RegisterCall final : public PendingCall {
 public:
  RegisterCall(etcdserverpb::KV::Stub& kv, grpc::CompletionQueue* cq, uint64_t* lease)
      : kv_(kv), cq_(cq), lease_(lease) {}

  void Begin(etcdserverpb::Lease::Stub& leases, const Registration& registration) {
    etcdserverpb::LeaseGrantRequest grant;
    grant.set_ttl(std::max<int64_t>(1, (registration.ttl_ms + 999) / 1000));
    put_.set_key(ServicePrefix(registration.service) + "instance-" + std::to_string(registration.instance));
    put_.set_value("10.0.0.1:" + std::to_string(1000 + registration.instance % 60000));
    grant_reader_ = leases.AsyncLeaseGrant(&context, grant, cq_);
    grant_reader_->Finish(&grant_reply_, &status, this);
  }

  bool Proceed(bool) override {
    if (put_reader_ || !status.ok()) return true;
    if (!grant_reply_.error().empty()) {
      status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "lease grant: " + grant_reply_.error());
      return true;
    }
    put_.set_lease(grant_reply_.id());
    put_reader_ = kv_.AsyncPut(&put_context_, put_, cq_);
    put_reader_->Finish(&put_reply_, &status, this);
    return false;
  }

  void OnSuccess() override { *lease_ = static_cast<uint64_t>(grant_reply_.id()); }

 private:
  etcdserverpb::KV::Stub& kv_;
  grpc::CompletionQueue* cq_;
  uint64_t* lease_;
  etcdserverpb::LeaseGrantResponse grant_reply_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::LeaseGrantResponse>> grant_reader_;
  etcdserverpb::PutRequest put_;
  etcdserverpb::PutResponse put_reply_;
  grpc::ClientContext put_context_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>> put_reader_;
};

using KeepAlivePool = StreamPool<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;
using KeepAliveExchange = StreamExchange<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;

grpc::Status CheckKeepAlive(const etcdserverpb::LeaseKeepAliveResponse& response) {
  if (response.ttl() > 0) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::NOT_FOUND, "lease not found");
}

class EtcdBackend final : public Backend {
 public:
  explicit EtcdBackend(const Connections& connections)
      : keep_alive_([this](grpc::ClientContext* context, grpc::CompletionQueue* cq, uint64_t sequence) {
          return leases_[sequence % leases_.size()]->PrepareAsyncLeaseKeepAlive(context, cq);
        }) {
    for (const auto& channel : connections.channels()) {
      kv_.push_back(etcdserverpb::KV::NewStub(channel));
      leases_.push_back(etcdserverpb::Lease::NewStub(channel));
      generic_.push_back(std::make_unique<grpc::GenericStub>(channel));
    }
  }

  std::unique_ptr<PendingCall> StartRegister(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const Registration& registration, uint64_t* lease) override {
    auto call = std::make_unique<RegisterCall>(*kv_[sequence % kv_.size()], cq, lease);
    call->Begin(*leases_[sequence % leases_.size()], registration);
    return call;
  }

  // etcd's heartbeat is the stream's: both scenarios use it.
  std::unique_ptr<PendingCall> StartHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq, uint64_t lease) override {
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(static_cast<int64_t>(lease));
    auto call = std::make_unique<KeepAliveExchange>(keep_alive_, std::move(request), &CheckKeepAlive);
    call->Begin(cq, sequence);
    return call;
  }
  std::unique_ptr<PendingCall> StartStreamHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq,
                                                    uint64_t lease) override {
    return StartHeartbeat(sequence, cq, lease);
  }

  std::unique_ptr<PendingCall> StartDeregister(uint64_t sequence, grpc::CompletionQueue* cq,
                                               uint64_t lease) override {
    auto call = std::make_unique<PendingUnary<etcdserverpb::LeaseRevokeResponse>>();
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(static_cast<int64_t>(lease));
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return leases_[sequence % leases_.size()]->AsyncLeaseRevoke(context, request, queue);
    }, cq);
    return call;
  }

  std::unique_ptr<PendingCall> StartDiscover(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const std::string& service) override {
    auto call = std::make_unique<PendingRawUnary>();
    etcdserverpb::RangeRequest request;
    request.set_key(ServicePrefix(service));
    request.set_range_end(PrefixEnd(ServicePrefix(service)));
    request.set_serializable(true);
    call->Begin(*generic_[sequence % generic_.size()], "/etcdserverpb.KV/Range", request, cq);
    return call;
  }

  int CloseStreams(grpc::CompletionQueue* cq) override { return keep_alive_.Close(cq); }

 private:
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_;
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> leases_;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic_;  // Range, unparsed
  KeepAlivePool keep_alive_;
};

}  // namespace

std::unique_ptr<Backend> MakeEtcdBackend(const Connections& connections) {
  return std::make_unique<EtcdBackend>(connections);
}

}  // namespace registryd::bench
