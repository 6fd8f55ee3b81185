#include "bench/ceiling_streams.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "envoy/endpoint.pb.h"

namespace registryd::ceiling {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr char kLoadAssignmentType[] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

template <typename Message>
grpc::ByteBuffer Serialize(const Message& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  (void)grpc::SerializationTraits<Message>::Serialize(message, &buffer, &own_buffer);
  return buffer;
}

}  // namespace

template <typename Stream>
void StreamWake<Stream>::Poke() {
  if (wake_set_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is on its way
  std::lock_guard lock(alarm_mu_);
  if (!closed_) alarm_.Set(queue_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), this);
}

template <typename Stream>
void StreamWake<Stream>::Close() {
  std::lock_guard lock(alarm_mu_);
  closed_ = true;
  alarm_.Cancel();
}

template <typename Stream>
void StreamWake<Stream>::Proceed(bool ok) {
  if (!ok || queue_.stopping()) return;
  wake_set_.store(false, std::memory_order_release);  // a Publish from now on sets a new wake
  // Pump() may end a stream, which removes it: iterate a copy.
  const std::vector<Stream*> streams(streams_.begin(), streams_.end());
  for (Stream* stream : streams) {
    if (streams_.contains(stream)) stream->Pump();
  }
}

template class StreamWake<WatchStream>;
template class StreamWake<AdsStream>;

void AdsBroadcast::Subscribe(const std::string& service) {
  std::lock_guard lock(mu_);
  if (subscribed_.load(std::memory_order_relaxed)) return;
  service_ = service;
  BuildLocked();
  subscribed_.store(true, std::memory_order_release);
}

void AdsBroadcast::Publish(const registry::v1::RegisterRequest& request) {
  if (!subscribed_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(mu_);
    if (request.service() != service_) return;
    instances_[request.instance_id()] = request.address();
    BuildLocked();
  }
  for (const auto& wake : wakes_) wake->Poke();
}

// The service's ClusterLoadAssignment, built once per change: one locality of
// every instance, as registryd builds it for instances of one zone and weight.
void AdsBroadcast::BuildLocked() {
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  assignment.set_cluster_name(service_);
  if (!instances_.empty()) {
    envoy::config::endpoint::v3::LocalityLbEndpoints& locality = *assignment.add_endpoints();
    for (const auto& [id, address] : instances_) {
      absl::string_view host = address;
      uint32_t port = 0;
      if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
        if (!absl::SimpleAtoi(host.substr(colon + 1), &port)) port = 0;
        host = host.substr(0, colon);
      }
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      envoy::config::endpoint::v3::LbEndpoint& endpoint = *locality.add_lb_endpoints();
      envoy::config::core::v3::SocketAddress& socket =
          *endpoint.mutable_endpoint()->mutable_address()->mutable_socket_address();
      socket.set_address(std::string(host));
      socket.set_port_value(port);
      endpoint.set_health_status(envoy::config::core::v3::HEALTHY);
    }
    locality.mutable_load_balancing_weight()->set_value(static_cast<uint32_t>(locality.lb_endpoints_size()));
    locality.set_priority(0);
  }
  DiscoveryResponse response;
  const std::string version = std::to_string(++version_);
  response.set_version_info(version);
  response.set_type_url(kLoadAssignmentType);
  response.set_nonce(version);
  response.add_resources()->PackFrom(assignment);
  latest_ = Serialize(response);
}

bool AdsBroadcast::Latest(uint64_t* seen, grpc::ByteBuffer* response) {
  std::lock_guard lock(mu_);
  if (version_ <= *seen) return false;
  *seen = version_;
  *response = latest_;  // shares the slices
  return true;
}

void Broadcast::Publish(const registry::v1::RegisterRequest& request) {
  registry::v1::WatchResponse response;
  registry::v1::WatchEvent& event = *response.add_events();
  event.set_kind(registry::v1::WatchEvent::ADDED);
  registry::v1::Instance& instance = *event.mutable_instance();
  instance.set_service(request.service());
  instance.set_instance_id(request.instance_id());
  instance.set_address(request.address());
  *instance.mutable_metadata() = request.metadata();
  {
    std::lock_guard lock(mu_);
    event.set_revision(++revision_);
    response.set_revision(revision_);
    latest_ = Serialize(response);
  }
  for (const auto& wake : wakes_) wake->Poke();
  ads_.Publish(request);
}

bool Broadcast::Latest(uint64_t* seen, grpc::ByteBuffer* response) {
  std::lock_guard lock(mu_);
  if (revision_ <= *seen) return false;
  *seen = revision_;
  *response = latest_;  // shares the slices
  return true;
}

void KeepAliveStream::Start(NativeService& service, CeilingQueue& queue) {
  auto* stream = new KeepAliveStream(service, queue);
  service.RequestKeepAlive(&stream->context_, &stream->stream_, queue.cq(), queue.cq(), &stream->started_);
}

void KeepAliveStream::OnStarted(bool ok) {
  if (!ok || queue_.stopping()) {  // no call started
    delete this;
    return;
  }
  Start(service_, queue_);  // the next stream
  stream_.Read(&request_, &read_);
}

void KeepAliveStream::OnRead(bool ok) {
  if (!ok) {  // the client closed its side, or the call was cancelled
    Finish();
    return;
  }
  if (queue_.stopping()) {  // no operation may start: gRPC ends the call
    delete this;
    return;
  }
  response_.set_lease_id(request_.lease_id());
  response_.set_ttl_ms(60'000);
  stream_.Write(response_, &written_);
}

void KeepAliveStream::OnWritten(bool ok) {
  if (!ok) {
    Finish();
    return;
  }
  if (queue_.stopping()) {
    delete this;
    return;
  }
  stream_.Read(&request_, &read_);
}

void KeepAliveStream::Finish() {
  if (queue_.stopping()) {
    delete this;  // no operation is pending: gRPC ends the call
    return;
  }
  stream_.Finish(grpc::Status::OK, &finished_);
}

void KeepAliveStream::OnFinished(bool) { delete this; }

void WatchStream::Start(NativeService& service, CeilingQueue& queue, Broadcast& broadcast, WatchWake& wake) {
  auto* stream = new WatchStream(service, queue, broadcast, wake);
  stream->context_.AsyncNotifyWhenDone(&stream->done_);
  service.RequestWatch(&stream->context_, &stream->request_, &stream->writer_, queue.cq(), queue.cq(),
                       &stream->started_);
}

void WatchStream::OnStarted(bool ok) {
  if (!ok) {  // no call started, so no done tag comes (grpc/grpc#10136)
    delete this;
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // only the done tag is left to come
    return;
  }
  Start(service_, queue_, broadcast_, wake_);  // the next stream
  registry::v1::WatchRequest request;
  (void)grpc::SerializationTraits<registry::v1::WatchRequest>::Deserialize(&request_, &request);
  // What came before the stream is not news: an empty snapshot, then events.
  (void)broadcast_.Latest(&seen_, &response_);
  registry::v1::WatchResponse snapshot;
  snapshot.set_snapshot(true);
  response_ = Serialize(snapshot);
  wake_.Add(this);
  Write();
}

void WatchStream::Pump() {
  if (writing_ || ending_) return;
  if (broadcast_.Latest(&seen_, &response_)) Write();
}

void WatchStream::Write() {
  writing_ = true;
  writer_.Write(response_, &written_);
}

void WatchStream::OnWritten(bool ok) {
  writing_ = false;
  if (!ok || ending_ || queue_.stopping()) {
    End();
    return;
  }
  Pump();
}

void WatchStream::OnDone(bool) {
  done_back_ = true;
  End();
}

// Every way out comes here; Finish starts once no write is under way.
void WatchStream::End() {
  if (!ending_) {
    ending_ = true;
    wake_.Remove(this);
  }
  if (writing_ || finish_back_) {
    DeleteWhenIdle();
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // no Finish can start: gRPC ends the call
  } else if (!finish_started_) {
    finish_started_ = true;
    writer_.Finish(grpc::Status::OK, &finished_);
    return;
  }
  DeleteWhenIdle();
}

void WatchStream::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

void WatchStream::DeleteWhenIdle() {
  if (finish_back_ && done_back_ && !writing_) delete this;
}

void AdsStream::Start(AdsService& service, CeilingQueue& queue, AdsBroadcast& ads, AdsWake& wake) {
  auto* stream = new AdsStream(service, queue, ads, wake);
  stream->context_.AsyncNotifyWhenDone(&stream->done_);
  service.RequestStreamAggregatedResources(&stream->context_, &stream->stream_, queue.cq(), queue.cq(),
                                           &stream->started_);
}

void AdsStream::OnStarted(bool ok) {
  if (!ok) {  // no call started, so no done tag comes (grpc/grpc#10136)
    delete this;
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // only the done tag is left to come
    return;
  }
  Start(service_, queue_, ads_, wake_);  // the next stream
  wake_.Add(this);
  Read();
}

void AdsStream::Read() {
  reading_ = true;
  stream_.Read(&request_, &read_);
}

void AdsStream::OnRead(bool ok) {
  reading_ = false;
  // The client closed its side, the call is over, or the server is stopping.
  if (!ok || ending_ || queue_.stopping()) {
    End(grpc::Status::OK);
    return;
  }
  DiscoveryRequest request;
  if (!grpc::SerializationTraits<DiscoveryRequest>::Deserialize(&request_, &request).ok()) {
    End({grpc::StatusCode::INVALID_ARGUMENT, "not a DiscoveryRequest"});
    return;
  }
  Read();
  if (subscribed_) return;  // an ACK (or a NACK): nothing to do
  // The first request: the state now, at once.
  subscribed_ = true;
  ads_.Subscribe(request.resource_names().empty() ? std::string() : request.resource_names(0));
  Pump();
}

void AdsStream::Pump() {
  if (writing_ || ending_ || !subscribed_) return;
  if (ads_.Latest(&seen_, &response_)) Write();
}

void AdsStream::Write() {
  writing_ = true;
  stream_.Write(response_, &written_);
}

void AdsStream::OnWritten(bool ok) {
  writing_ = false;
  if (!ok || ending_ || queue_.stopping()) {
    End(grpc::Status::OK);
    return;
  }
  Pump();
}

void AdsStream::OnDone(bool) {
  done_back_ = true;
  End(grpc::Status::OK);
}

// Every way out comes here; Finish starts once neither a read nor a write is
// under way. The pending read comes back once the call is over: cancelling
// makes sure it is.
void AdsStream::End(grpc::Status status) {
  if (!ending_) {
    ending_ = true;
    status_ = std::move(status);
    wake_.Remove(this);
    if (reading_) context_.TryCancel();
  }
  if (reading_ || writing_ || finish_back_) {
    DeleteWhenIdle();
    return;
  }
  if (queue_.stopping()) {
    finish_back_ = true;  // no Finish can start: gRPC ends the call
  } else if (!finish_started_) {
    finish_started_ = true;
    stream_.Finish(status_, &finished_);
    return;
  }
  DeleteWhenIdle();
}

void AdsStream::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

void AdsStream::DeleteWhenIdle() {
  if (finish_back_ && done_back_ && !reading_ && !writing_) delete this;
}

}  // namespace registryd::ceiling
