// The seed's four RPCs (SEED_CONTRACT.md), each run by UnaryCall<Rpc>; one
// .cc file per RPC holds its Handle().
#pragma once

#include <string_view>

#include <grpcpp/support/status.h>

#include "auth/caller.h"
#include "core/registry.h"
#include "core/registry_writer.h"
#include "server/queue/lenient_services.h"
#include "server/queue/rpc_done.h"

namespace registryd {

// registry_service.RegistryService/discovery: register (upsert by serverId).
struct SeedRegisterRpc {
  static constexpr bool kWrites = true;
  static constexpr bool kAuthorized = true;
  using Service = SeedRegistryService;
  using Request = lenient::RecordRequest;
  using Reply = registry_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestRegisterLenient;
  static constexpr std::string_view kName = "registry_service.RegistryService/discovery";
  static void Handle(RegistryWriter& writer, const Request& request, Reply& reply, const auth::CallerRef& caller,
                     RpcDone done);
};

// registry_service.RegistryService/heartBeat: renew, store overloaded.
struct SeedHeartbeatRpc {
  static constexpr bool kAuthorized = true;
  using Service = SeedRegistryService;
  using Request = registry_service::RenewRequest;
  using Reply = registry_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestheartBeat;
  static constexpr std::string_view kName = "registry_service.RegistryService/heartBeat";
  static grpc::Status Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
  // registryd's own probe (server/renewal_probe.h) names this serverId; any
  // id is a seed server's, so its metadata tells them apart.
  static constexpr int32_t kRenewalProbeServerId = INT32_MIN;
  static bool MayBeRenewalProbe(const Request& request) { return request.serverid() == kRenewalProbeServerId; }
};

// discovery_service.DiscoveryService/findServer: one live server, round-robin.
struct FindServerRpc {
  static constexpr bool kAuthorized = true;
  using Service = SeedDiscoveryService;
  using Request = lenient::QueryRequest;
  using Reply = discovery_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestFindServerLenient;
  static constexpr std::string_view kName = "discovery_service.DiscoveryService/findServer";
  static grpc::Status Handle(Registry& registry, const Request& request, Reply& reply,
                             const auth::CallerRef& caller);
};

// discovery_service.DiscoveryService/warnServerError: eject, pick another.
struct WarnServerErrorRpc {
  static constexpr bool kWrites = true;
  static constexpr bool kAuthorized = true;
  using Service = SeedDiscoveryService;
  using Request = discovery_service::ServerError;
  using Reply = discovery_service::QueryReply;
  static constexpr auto kRequest = &Service::RequestwarnServerError;
  static constexpr std::string_view kName = "discovery_service.DiscoveryService/warnServerError";
  static void Handle(RegistryWriter& writer, const Request& request, Reply& reply, const auth::CallerRef& caller,
                     RpcDone done);
};

// Fills a seed QueryReply with a chosen server, or querySuccess = false.
void FillSeedReply(const std::optional<Endpoint>& endpoint, discovery_service::QueryReply& reply);

}  // namespace registryd
