// The native registry.v1.Registry RPCs, each run by UnaryCall<Rpc>; one .cc
// file per RPC holds its Handle().
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <grpcpp/support/status.h>

#include "auth/caller.h"
#include "core/registry.h"
#include "core/registry_writer.h"
#include "server/rpcs/discover_reply_cache.h"
#include "server/queue/lenient_services.h"
#include "server/queue/rpc_done.h"
#include "server/queue/wire_millis.h"

namespace registryd {

// The validated registration a Register request (or a session's) asks for.
absl::StatusOr<RegisterSpec> RegisterSpecOf(const Registry& registry, const lenient::RegisterRequest& request);

struct RegisterRpc {
  static constexpr bool kWrites = true;
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = lenient::RegisterRequest;
  using Reply = registry::v1::RegisterResponse;
  static constexpr auto kRequest = &Service::RequestRegisterLenient;
  static constexpr std::string_view kName = "registry.v1.Registry/Register";
  static void Handle(RegistryWriter& writer, const Request& request, Reply& reply, const auth::CallerRef& caller,
                     RpcDone done);
};

struct HeartbeatRpc {
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = registry::v1::HeartbeatRequest;
  using Reply = registry::v1::HeartbeatResponse;
  static constexpr auto kRequest = &Service::RequestHeartbeat;
  static constexpr std::string_view kName = "registry.v1.Registry/Heartbeat";
  static grpc::Status Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
  // registryd's own probe renews no lease (server/renewal_probe.h).
  static bool MayBeRenewalProbe(const Request& request) { return request.lease_id() == kNoLease; }
};

struct DeregisterRpc {
  static constexpr bool kWrites = true;
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = registry::v1::DeregisterRequest;
  using Reply = registry::v1::DeregisterResponse;
  static constexpr auto kRequest = &Service::RequestDeregister;
  static constexpr std::string_view kName = "registry.v1.Registry/Deregister";
  static void Handle(RegistryWriter& writer, const Request& request, Reply& reply, const auth::CallerRef& caller,
                     RpcDone done);
};

// What Discover works on: the registry, and its queue's cache of replies.
struct DiscoverBackend {
  Registry& registry;
  DiscoverReplyCache cache;
};

struct DiscoverRpc {
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = lenient::DiscoverRequest;
  using Reply = grpc::ByteBuffer;  // a serialized registry::v1::DiscoverResponse
  static constexpr auto kRequest = &Service::RequestDiscoverLenient;
  static constexpr std::string_view kName = "registry.v1.Registry/Discover";
  static grpc::Status Handle(DiscoverBackend& backend, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

struct ListServicesRpc {
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = registry::v1::ListServicesRequest;
  using Reply = registry::v1::ListServicesResponse;
  static constexpr auto kRequest = &Service::RequestListServices;
  static constexpr std::string_view kName = "registry.v1.Registry/ListServices";
  static grpc::Status Handle(Registry& registry, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

struct ListSessionsRpc {
  static constexpr bool kAuthorized = true;
  using Service = NativeRegistryService;
  using Request = registry::v1::ListSessionsRequest;
  using Reply = registry::v1::ListSessionsResponse;
  static constexpr auto kRequest = &Service::RequestListSessions;
  static constexpr std::string_view kName = "registry.v1.Registry/ListSessions";
  static grpc::Status Handle(Registry& registry, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

}  // namespace registryd
