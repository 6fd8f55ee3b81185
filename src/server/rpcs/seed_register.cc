// registry_service.RegistryService/discovery — despite the name, REGISTER.
#include "core/log.h"
#include "core/validation.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/queue/status.h"

namespace registryd {

void SeedRegisterRpc::Handle(RegistryWriter& writer, const Request& request, Reply& reply,
                             const auth::CallerRef& caller, RpcDone done) {
  for (const absl::Status& check : {ValidateHost("serverIp", request.serverip()),
                                    ValidatePort("serverPort", request.serverport()),
                                    ValidateService("service", request.service())}) {
    if (!check.ok()) {
      std::move(done)(ToGrpcStatus(check));
      return;
    }
  }
  RegisterSpec spec;
  spec.service = request.service();
  spec.instance_id = std::to_string(request.serverid());
  spec.host = request.serverip();
  spec.port = static_cast<uint16_t>(request.serverport());
  spec.ttl = writer.registry().options().default_ttl;
  spec.overloaded = request.overloaded();
  spec.seed_id = request.serverid();
  // The request and reply live in the call until it finishes, after `done`.
  writer.SeedRegister(std::move(spec), caller, [&request, &reply, auditor = auth::AuditorOf(caller),
                                                done = std::move(done)](absl::StatusOr<RegisterResult> result) mutable {
    if (auditor) auditor->Audit("register", request.service(), std::to_string(request.serverid()), result.status());
    if (!result.ok()) {
      std::move(done)(ToGrpcStatus(result.status()));
      return;
    }
    log::Debug("registered serverId {} as {} {}:{} (seed API, {})", request.serverid(), request.service(),
               request.serverip(), request.serverport(), result->created ? "new" : "updated");
    reply.set_success(true);
    std::move(done)(grpc::Status::OK);
  });
}

}  // namespace registryd
