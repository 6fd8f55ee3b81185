// registry_service.RegistryService/discovery — despite the name, REGISTER.
#include "core/validation.h"
#include "core/log.h"
#include "server/seed_rpcs.h"
#include "server/status.h"

namespace registryd {

grpc::Status SeedRegisterRpc::Handle(Registry& registry, const Request& request, Reply& reply) {
  for (const absl::Status& check : {ValidateHost("serverIp", request.serverip()),
                                    ValidatePort("serverPort", request.serverport()),
                                    ValidateService("service", request.service())}) {
    if (!check.ok()) return ToGrpcStatus(check);
  }
  RegisterSpec spec;
  spec.service = request.service();
  spec.instance_id = std::to_string(request.serverid());
  spec.host = request.serverip();
  spec.port = static_cast<uint16_t>(request.serverport());
  spec.ttl = registry.options().default_ttl;
  spec.overloaded = request.overloaded();
  spec.seed_id = request.serverid();
  const absl::StatusOr<RegisterResult> result = registry.SeedRegister(spec);
  if (!result.ok()) return ToGrpcStatus(result.status());
  log::Debug("registered serverId {} as {} {}:{} (seed API, {})", request.serverid(), spec.service,
             spec.host, spec.port, result->created ? "new" : "updated");
  reply.set_success(true);
  return grpc::Status::OK;
}

}  // namespace registryd
