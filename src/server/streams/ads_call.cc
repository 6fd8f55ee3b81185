#include "server/streams/ads_call.h"

#include <algorithm>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/strings/escaping.h"
#include "core/log.h"
#include "server/queue/caller_cache.h"
#include "server/queue/status.h"
#include "metrics/thread_metrics.h"

namespace registryd {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr std::string_view kName = "envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
constexpr size_t kMetricIndex = metrics::MethodIndex(kName);
static_assert(kMetricIndex < metrics::kMethods.size(), "every stream is listed in metrics::kMethods");
// The longest part of a client's text that goes into a log line.
constexpr size_t kMaxLoggedBytes = 512;

static_assert(metrics::kXdsTypes == xds::kResourceTypes);

constexpr std::array<xds::ResourceType, xds::kResourceTypes> kTypesInOrder = {
    xds::ResourceType::kListener, xds::ResourceType::kRouteConfiguration, xds::ResourceType::kCluster,
    xds::ResourceType::kClusterLoadAssignment};

std::string Printable(std::string_view text) {
  text = text.substr(0, kMaxLoggedBytes);
  return absl::CHexEscape(absl::string_view(text.data(), text.size()));
}

// Every resource a client can name is a service's: reading it needs read on it.
template <typename Names>
grpc::Status MayReadEach(const auth::Caller& caller, const Names& names) {
  for (const std::string& name : names) {
    if (absl::Status check = caller.MayRead(name); !check.ok()) return ToGrpcStatus(check);
  }
  return grpc::Status::OK;
}

}  // namespace

void AdsCall::Start(AdsService& service, ServingQueue& queue, XdsResourceCache& resources, WatchHub& hub) {
  auto* call = new AdsCall(service, queue, resources, hub);
  ServingQueue::StartGuard guard(queue);
  if (!guard.accepting()) {
    delete call;
    return;
  }
  call->context_.AsyncNotifyWhenDone(&call->done_);
  service.RequestStreamRaw(&call->context_, &call->stream_, queue.cq(), queue.cq(), &call->started_);
}

bool AdsCall::Reads(uint32_t shard) const {
  return std::binary_search(load_shards_.begin(), load_shards_.end(), shard);
}

void AdsCall::OnStarted(bool ok) {
  if (!ok) {  // shutdown: no call started, so the done tag never comes (grpc/grpc#10136)
    delete this;
    return;
  }
  Start(service_, queue_, resources_, hub_);  // the next stream
  metrics::Local().StreamOpened(metrics::StreamKind::kAds);
  // Cancelled at shutdown: clients see the stream end and reconnect.
  if (!queue_.AddStream(&context_, ServingQueue::AtClose::kCancel)) context_.TryCancel();
  hub_.Add(this);
  if (!StartRead()) End(grpc::Status::OK);
}

bool AdsCall::StartRead() {
  ServingQueue::StartGuard guard(queue_);
  if (!guard.open()) return false;
  reading_ = true;
  stream_.Read(&request_, &read_);
  return true;
}

void AdsCall::OnRead(bool ok) {
  reading_ = false;
  if (ending_) {
    FinishWhenIdle();
    return;
  }
  if (!ok) {  // the client closed its side, broke, or the server is stopping
    End(grpc::Status::OK);
    return;
  }
  bool due = false;
  if (grpc::Status handled = Handle(due); !handled.ok()) {
    End(handled);
    return;
  }
  if (!StartRead()) {
    End(grpc::Status::OK);
    return;
  }
  if (due) Pump();
}

grpc::Status AdsCall::Handle(bool& due) {
  DiscoveryRequest request;
  if (!grpc::SerializationTraits<DiscoveryRequest>::Deserialize(&request_, &request).ok()) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "DiscoveryRequest: not a valid envoy.service.discovery.v3.DiscoveryRequest (a string field that is "
            "not UTF-8?)"};
  }
  if (request.has_node() && client_.empty()) client_ = Printable(request.node().id());
  // Under the policy of the moment (resolved from the connection's cache).
  if (CallerCache* callers = queue_.callers()) {
    const absl::StatusOr<const auth::CallerRef*> caller = callers->Resolve(context_);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (grpc::Status allowed = MayReadEach(***caller, request.resource_names()); !allowed.ok()) return allowed;
  }
  absl::StatusOr<xds::RequestOutcome> outcome = subscriptions_.Apply(request);
  if (!outcome.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, std::string(outcome.status().message())};
  const xds::ResourceType type = outcome->type;
  due = outcome->due;
  if (outcome->kind == xds::RequestKind::kNack) {
    metrics::Local().xds_nacks[xds::IndexOf(type)].Add();
    log::Fields(log::Level::kWarn, {{"node", client_}, {"type", metrics::kXdsTypeNames[xds::IndexOf(type)]}},
                "xDS client '{}' rejected {} version {}: {}", client_, metrics::kXdsTypeNames[xds::IndexOf(type)],
                Printable(request.version_info()), Printable(request.error_detail().message()));
  }
  if (type == xds::ResourceType::kClusterLoadAssignment && outcome->due) {
    load_shards_.clear();
    for (const std::string& name : subscriptions_.names(type)) {
      load_shards_.push_back(resources_.registry().ShardOfService(name));
    }
    std::sort(load_shards_.begin(), load_shards_.end());
    load_shards_.erase(std::unique(load_shards_.begin(), load_shards_.end()), load_shards_.end());
  }
  return grpc::Status::OK;
}

grpc::Status AdsCall::AuthorizeSubscriptionsIfReloaded() {
  const absl::StatusOr<const auth::CallerRef*> caller = caller_.ResolveIfReloaded(queue_, context_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (*caller == nullptr) return grpc::Status::OK;
  for (const xds::ResourceType type : kTypesInOrder) {
    if (grpc::Status allowed = MayReadEach(***caller, subscriptions_.names(type)); !allowed.ok()) return allowed;
  }
  return grpc::Status::OK;
}

void AdsCall::Pump() {
  if (writing_ || ending_) return;
  if (grpc::Status allowed = AuthorizeSubscriptionsIfReloaded(); !allowed.ok()) {
    End(allowed);
    return;
  }
  for (const xds::ResourceType type : kTypesInOrder) {
    if (WriteIfDue(type)) return;
  }
}

bool AdsCall::WriteIfDue(xds::ResourceType type) {
  // A Listener, RouteConfiguration or Cluster depends on its name alone: due
  // only when the names changed. Only ClusterLoadAssignments move by themselves.
  if (type != xds::ResourceType::kClusterLoadAssignment && !subscriptions_.names_changed(type)) return false;
  const std::vector<std::string>& names = subscriptions_.names(type);
  std::vector<uint64_t> content;
  content.reserve(names.size());
  for (const std::string& name : names) content.push_back(resources_.Get(type, name).content_id);
  if (!subscriptions_.Due(type, content)) return false;
  std::vector<grpc::Slice> entries;
  entries.reserve(names.size() + 1);
  entries.emplace_back();  // the response's own fields, below
  for (const std::string& name : names) {
    const XdsResourceCache::Resource& resource = resources_.Get(type, name);  // as just looked at
    if (resource.content_id != 0) entries.push_back(resource.entry);
  }
  const xds::SentResponse sent = subscriptions_.Sent(type, std::move(content));
  DiscoveryResponse fields;
  fields.set_version_info(sent.version_info);
  fields.set_type_url(std::string(xds::kTypeUrls[xds::IndexOf(type)]));
  fields.set_nonce(sent.nonce);
  fields.mutable_control_plane()->set_identifier("registryd");
  entries.front() = grpc::Slice(fields.SerializeAsString());
  response_ = grpc::ByteBuffer(entries.data(), entries.size());
  {
    ServingQueue::StartGuard guard(queue_);
    if (guard.open()) {
      metrics::Local().xds_responses[xds::IndexOf(type)].Add();
      writing_ = true;
      stream_.Write(response_, &written_);
      return true;
    }
  }
  End(grpc::Status::OK);  // the queue is shutting down (End takes the guard itself)
  return true;
}

void AdsCall::OnWritten(bool ok) {
  writing_ = false;
  response_.Clear();  // an idle stream holds no old copy of a resource
  // A failed write: the client is gone, or the server is stopping.
  if (!ok) {
    End(grpc::Status::OK);
    return;
  }
  if (ending_) {
    FinishWhenIdle();
    return;
  }
  Pump();
}

// Once the stream is to end, every path comes here until Finish starts.
void AdsCall::End(const grpc::Status& status) {
  if (!ending_) {
    ending_ = status;
    hub_.Remove(this);
    // With an OK status, a read is pending only when the call is over
    // already (a failed write, the done tag, shutdown): cancelling makes sure
    // it comes back. A refusal under a reloaded policy comes while the read
    // is pending, and is sent at once: Finish with an error status may
    // overtake a read, which then fails. After a bad request no read is
    // pending, and the client gets the status.
    if (reading_ && status.ok()) context_.TryCancel();
  }
  FinishWhenIdle();
}

// Finish waits for the pending write, and for the pending read unless the
// status is an error.
void AdsCall::FinishWhenIdle() {
  if (writing_ || (reading_ && ending_->ok())) return;
  if (!finish_started_) {
    finish_started_ = true;
    ServingQueue::StartGuard guard(queue_);
    if (guard.open()) {
      stream_.Finish(*ending_, &finished_);
      return;
    }
    finish_back_ = true;  // no Finish can start once the queue shuts down: gRPC ends the call
  }
  DeleteWhenIdle();
}

void AdsCall::OnFinished(bool) {
  finish_back_ = true;
  DeleteWhenIdle();
}

// An idle stream still has its read pending, which fails once the call is
// over; the done tag may come before or after it.
void AdsCall::OnDone(bool) {
  done_back_ = true;
  if (!ending_) {
    End(grpc::Status::OK);
    return;
  }
  DeleteWhenIdle();
}

void AdsCall::DeleteWhenIdle() {
  if (!finish_back_ || !done_back_ || reading_ || writing_) return;
  metrics::ThreadMetrics& metrics = metrics::Local();
  metrics.StreamClosed(metrics::StreamKind::kAds);
  metrics.Call(kMetricIndex, ending_->error_code());
  queue_.RemoveStream(&context_);
  delete this;
}

}  // namespace registryd
