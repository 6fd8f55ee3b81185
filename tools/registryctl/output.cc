#include "tools/registryctl/output.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include <fmt/core.h>
#include <google/protobuf/util/json_util.h>

namespace registryd::ctl {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

namespace {

std::string Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string MetadataText(const google::protobuf::Map<std::string, std::string>& metadata) {
  const std::map<std::string, std::string> sorted(metadata.begin(), metadata.end());
  std::string text;
  for (const auto& [key, value] : sorted) text += fmt::format("{}{}={}", text.empty() ? "" : ",", key, value);
  return text.empty() ? "-" : text;
}

}  // namespace

std::string FormatLease(uint64_t lease) { return fmt::format("0x{:016x}", lease); }

std::string FormatMillis(uint32_t millis) {
  if (millis % 1000 == 0) return fmt::format("{}s", millis / 1000);
  if (millis >= 1000) return fmt::format("{:.1f}s", millis / 1000.0);
  return fmt::format("{}ms", millis);
}

int Failed(const Connection& connection, const std::string& what, const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    fmt::print(stderr, "registryctl: {}: cannot reach the registry at {}: {}\n", what, connection.target,
               status.error_message());
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    fmt::print(stderr, "registryctl: {}: the registry at {} did not answer within {}\n", what, connection.target,
               FormatMillis(static_cast<uint32_t>(connection.timeout.count())));
  } else {
    fmt::print(stderr, "registryctl: {}: {}: {}\n", what, CodeName(status.error_code()), status.error_message());
  }
  return 1;
}

bool BuildRegisterRequest(const RegisterArgs& args, registry::v1::RegisterRequest* request) {
  request->set_service(args.service);
  request->set_address(args.address);
  request->set_instance_id(args.instance_id);
  request->set_ttl_ms(static_cast<uint32_t>(args.ttl.count()));
  request->set_overloaded(args.overloaded);
  for (const std::string& entry : args.metadata) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      fmt::print(stderr, "registryctl: --meta {}: expected key=value\n", entry);
      return false;
    }
    (*request->mutable_metadata())[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  return true;
}

void PrintInstancesTable(const registry::v1::DiscoverResponse& reply) {
  std::vector<const registry::v1::Instance*> instances;
  for (const auto& instance : reply.instances()) instances.push_back(&instance);
  std::sort(instances.begin(), instances.end(),
            [](const auto* a, const auto* b) { return a->instance_id() < b->instance_id(); });
  size_t id_width = 8;
  size_t address_width = 7;
  for (const auto* instance : instances) {
    id_width = std::max(id_width, instance->instance_id().size());
    address_width = std::max(address_width, instance->address().size());
  }
  fmt::print("{:<{}}  {:<{}}  {:<10}  {:>8}  {}\n", "INSTANCE", id_width, "ADDRESS", address_width, "OVERLOADED",
             "TTL LEFT", "METADATA");
  for (const auto* instance : instances) {
    fmt::print("{:<{}}  {:<{}}  {:<10}  {:>8}  {}\n", instance->instance_id(), id_width, instance->address(),
               address_width, instance->overloaded() ? "yes" : "no", FormatMillis(instance->ttl_remaining_ms()),
               MetadataText(instance->metadata()));
  }
}

void PrintInstancesJson(const registry::v1::DiscoverResponse& reply) { fmt::print("{}\n", Json(reply)); }

void PrintServicesTable(const registry::v1::ListServicesResponse& reply) {
  size_t width = 7;
  for (const auto& service : reply.services()) width = std::max(width, service.name().size());
  fmt::print("{:<{}}  {:>9}\n", "SERVICE", width, "INSTANCES");
  for (const auto& service : reply.services()) fmt::print("{:<{}}  {:>9}\n", service.name(), width, service.instances());
}

void PrintServicesJson(const registry::v1::ListServicesResponse& reply) { fmt::print("{}\n", Json(reply)); }

void PrintSessionsTable(const registry::v1::ListSessionsResponse& reply) {
  size_t peer_width = 4;
  for (const auto& session : reply.sessions()) peer_width = std::max(peer_width, session.peer().size());
  fmt::print("{:<18}  {:>9}  {:>8}  {:>8}  {:<8}  {:<{}}  {}\n", "SESSION", "INSTANCES", "TTL", "LEFT", "STREAM", "PEER",
             peer_width, "OWNER");
  for (const auto& session : reply.sessions()) {
    fmt::print("{:<18}  {:>9}  {:>8}  {:>8}  {:<8}  {:<{}}  {}\n", FormatLease(session.session_id()),
               session.instances(), FormatMillis(session.ttl_ms()), FormatMillis(session.ttl_remaining_ms()),
               session.attached() ? "open" : "grace", session.peer(), peer_width,
               session.owner().empty() ? "-" : session.owner());
  }
}

void PrintSessionsJson(const registry::v1::ListSessionsResponse& reply) { fmt::print("{}\n", Json(reply)); }

void PrintWatchLines(const registry::v1::WatchResponse& response) {
  using registry::v1::WatchEvent;
  if (response.snapshot()) {
    fmt::print("snapshot at revision {}{}\n", response.revision(),
               response.history_lost() ? " (the changes since the requested revision are no longer kept)" : "");
  }
  for (const WatchEvent& event : response.events()) {
    const registry::v1::Instance& instance = event.instance();
    if (event.kind() == WatchEvent::REMOVED) {
      std::string reason = WatchEvent::Reason_Name(event.reason());
      std::transform(reason.begin(), reason.end(), reason.begin(), [](unsigned char c) { return std::tolower(c); });
      fmt::print("- {}/{} ({})\n", instance.service(), instance.instance_id(), reason);
      continue;
    }
    // Snapshot events (in every part of a snapshot) carry no revision.
    const char* mark = event.revision() == 0 ? "=" : event.kind() == WatchEvent::ADDED ? "+" : "~";
    fmt::print("{} {}/{} {}{}{}\n", mark, instance.service(), instance.instance_id(), instance.address(),
               instance.overloaded() ? " overloaded" : "",
               instance.metadata().empty() ? "" : " " + MetadataText(instance.metadata()));
  }
}

void PrintWatchJson(const registry::v1::WatchResponse& response) { fmt::print("{}\n", Json(response)); }

}  // namespace registryd::ctl
