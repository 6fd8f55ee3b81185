// etcd v3 driven the way a registry on etcd works: a registration is a lease
// grant then a put of the instance's key with that lease; a heartbeat is a
// keep-alive on a LeaseKeepAlive stream; deregistration revokes the lease
// (which deletes the key); discovery is a range over the service's prefix,
// serializable (served by the member alone: etcd's fastest read).
#include <grpcpp/support/async_stream.h>

#include "bench/backend.h"
#include "etcd_v3_subset.grpc.pb.h"

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

using KeepAliveReaderWriter =
    grpc::ClientAsyncReaderWriter<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;

struct KeepAliveStream {
  grpc::ClientContext context;
  std::unique_ptr<KeepAliveReaderWriter> stream;
  grpc::Status finish_status;
  bool broken = false;
};

// Streams on one completion queue, each carrying one keep-alive at a time:
// an operation takes an idle stream, or opens one.
class KeepAliveStreams {
 public:
  // The idle stream for the next keep-alive on `cq`; nullptr when a new one
  // must be opened with Open.
  KeepAliveStream* TakeIdle(grpc::CompletionQueue* cq) {
    if (cq != cq_) {  // a new run: the previous run closed its streams
      all_.clear();
      idle_.clear();
      cq_ = cq;
    }
    if (idle_.empty()) return nullptr;
    KeepAliveStream* stream = idle_.back();
    idle_.pop_back();
    return stream;
  }

  KeepAliveStream* Open(etcdserverpb::Lease::Stub& leases, grpc::CompletionQueue* cq) {
    auto stream = std::make_unique<KeepAliveStream>();
    stream->stream = leases.PrepareAsyncLeaseKeepAlive(&stream->context, cq);
    all_.push_back(std::move(stream));
    return all_.back().get();
  }

  void Release(KeepAliveStream* stream) {
    if (!stream->broken) idle_.push_back(stream);
  }

  int Close(grpc::CompletionQueue* cq);

 private:
  grpc::CompletionQueue* cq_ = nullptr;
  std::vector<std::unique_ptr<KeepAliveStream>> all_;
  std::vector<KeepAliveStream*> idle_;
};

class KeepAliveCall final : public PendingCall {
 public:
  KeepAliveCall(KeepAliveStreams& streams, KeepAliveStream& stream, uint64_t lease)
      : streams_(streams), stream_(stream) {
    request_.set_id(static_cast<int64_t>(lease));
  }
  ~KeepAliveCall() override { streams_.Release(&stream_); }

  void Begin(bool opened) {
    if (opened) {
      step_ = Step::kStart;
      stream_.stream->StartCall(this);
    } else {
      step_ = Step::kWrite;
      stream_.stream->Write(request_, this);
    }
  }

  bool Proceed(bool ok) override {
    if (!ok) {
      stream_.broken = true;
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "LeaseKeepAlive stream broke");
      return true;
    }
    switch (step_) {
      case Step::kStart:
        step_ = Step::kWrite;
        stream_.stream->Write(request_, this);
        return false;
      case Step::kWrite:
        step_ = Step::kRead;
        stream_.stream->Read(&reply_, this);
        return false;
      case Step::kRead:
        if (reply_.ttl() <= 0) status = grpc::Status(grpc::StatusCode::NOT_FOUND, "lease not found");
        return true;
    }
    return true;
  }

 private:
  enum class Step { kStart, kWrite, kRead };

  KeepAliveStreams& streams_;
  KeepAliveStream& stream_;
  Step step_ = Step::kStart;
  etcdserverpb::LeaseKeepAliveRequest request_;
  etcdserverpb::LeaseKeepAliveResponse reply_;
};

// A stream's Finish, freed by the driver like any operation.
class StreamFinish final : public PendingCall {};

int KeepAliveStreams::Close(grpc::CompletionQueue* cq) {
  if (cq != cq_) return 0;
  int started = 0;
  for (auto& stream : all_) {
    stream->context.TryCancel();
    stream->stream->Finish(&stream->finish_status, new StreamFinish);
    ++started;
  }
  idle_.clear();
  cq_ = nullptr;  // the streams go at the next run's first TakeIdle
  return started;
}

class EtcdBackend final : public Backend {
 public:
  explicit EtcdBackend(const Connections& connections) {
    for (const auto& channel : connections.channels()) {
      kv_.push_back(etcdserverpb::KV::NewStub(channel));
      leases_.push_back(etcdserverpb::Lease::NewStub(channel));
    }
  }

  std::unique_ptr<PendingCall> StartRegister(uint64_t sequence, grpc::CompletionQueue* cq,
                                             const Registration& registration, uint64_t* lease) override {
    auto call = std::make_unique<RegisterCall>(*kv_[sequence % kv_.size()], cq, lease);
    call->Begin(*leases_[sequence % leases_.size()], registration);
    return call;
  }

  std::unique_ptr<PendingCall> StartHeartbeat(uint64_t sequence, grpc::CompletionQueue* cq, uint64_t lease) override {
    KeepAliveStream* stream = streams_.TakeIdle(cq);
    const bool opened = stream == nullptr;
    if (opened) stream = streams_.Open(*leases_[sequence % leases_.size()], cq);
    auto call = std::make_unique<KeepAliveCall>(streams_, *stream, lease);
    call->Begin(opened);
    return call;
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
    auto call = std::make_unique<PendingUnary<etcdserverpb::RangeResponse>>();
    etcdserverpb::RangeRequest request;
    request.set_key(ServicePrefix(service));
    request.set_range_end(PrefixEnd(ServicePrefix(service)));
    request.set_serializable(true);
    call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
      return kv_[sequence % kv_.size()]->AsyncRange(context, request, queue);
    }, cq);
    return call;
  }

  int CloseStreams(grpc::CompletionQueue* cq) override { return streams_.Close(cq); }

 private:
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_;
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> leases_;
  KeepAliveStreams streams_;
};

}  // namespace

std::unique_ptr<Backend> MakeEtcdBackend(const Connections& connections) {
  return std::make_unique<EtcdBackend>(connections);
}

}  // namespace registryd::bench
