// registryctl watch: a line per change of one service (or of every service),
// until interrupted. A lost stream (registry restarted or unreachable) is
// opened again after a second, resuming from the last revision received, so
// no change is missed (or a fresh snapshot is printed when the registry no
// longer has them).
#include <chrono>
#include <thread>

#include <fmt/core.h>

#include "registry/v1/registry.grpc.pb.h"
#include "tools/registryctl/commands.h"
#include "tools/registryctl/output.h"

namespace registryd::ctl {

int Watch(const Connection& connection, const WatchArgs& args) {
  auto stub = registry::v1::Registry::NewStub(
      connection.Channel());
  uint64_t revision = args.since_revision;
  bool received_any = false;
  for (;;) {
    grpc::ClientContext context;  // no deadline: a watch lasts until interrupted
    connection.Prepare(context);
    registry::v1::WatchRequest request;
    request.set_service(args.service);
    request.set_since_revision(revision);
    const auto reader = stub->Watch(&context, request);
    registry::v1::WatchResponse response;
    while (reader->Read(&response)) {
      received_any = true;
      args.json ? PrintWatchJson(response) : PrintWatchLines(response);
      std::fflush(stdout);
      if (!response.more()) revision = response.revision();
    }
    const grpc::Status status = reader->Finish();
    // Unreachable before anything arrived is an error, as for the other
    // subcommands; once watching, a registry that went away (stopping ends
    // its streams: CANCELLED or OK) is waited for.
    const grpc::StatusCode code = status.error_code();
    const bool registry_went_away =
        code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::CANCELLED || status.ok();
    if (!received_any || !registry_went_away) {
      return Failed(connection, "watch",
                    status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the registry ended the stream")
                                : status);
    }
    fmt::print(stderr, "registryctl: watch: lost {} ({}); resuming from revision {}\n", connection.target,
               status.ok() ? "stream ended" : status.error_message(), revision);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace registryd::ctl
