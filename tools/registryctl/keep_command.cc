// registryctl keep: a sidecar for a server that cannot link a gRPC client.
// Registers, renews the lease over a KeepAlive stream every TTL/3, registers
// again (same instance id) after NOT_FOUND or when the registry was lost or
// restarted, and deregisters on SIGINT/SIGTERM.
#include <algorithm>
#include <optional>

#include <fmt/core.h>

#include "registry/v1/registry.grpc.pb.h"
#include "tools/registryctl/commands.h"
#include "tools/registryctl/outage_retry.h"
#include "tools/registryctl/output.h"
#include "tools/registryctl/watchdog.h"

namespace registryd::ctl {
namespace {

class Keeper {
 public:
  Keeper(const Connection& connection, const KeepArgs& args)
      : connection_(connection),
        args_(args),
        stub_(registry::v1::Registry::NewStub(
            connection.Channel())) {}

  int Run() {
    if (!BuildRegisterRequest(args_.registration, &request_)) return 2;
    OutageRetry retry(connection_, "keep", "keep: register");
    while (!watchdog_.stop_requested()) {
      const grpc::Status registered = RegisterOnce();
      if (!registered.ok()) {
        if (const std::optional<int> failed = retry.Failed(registered, watchdog_)) return *failed;
        continue;
      }
      retry.Succeeded();
      if (const int failed = RenewUntilLost(); failed != 0) return failed;
    }
    return DeregisterOnStop();
  }

 private:
  grpc::Status RegisterOnce() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + connection_.timeout);
    connection_.Prepare(context);
    registry::v1::RegisterResponse reply;
    const grpc::Status status = stub_->Register(&context, request_, &reply);
    if (!status.ok()) return status;
    lease_ = reply.lease_id();
    ttl_ms_ = reply.ttl_ms();
    request_.set_instance_id(reply.instance_id());  // registering again keeps the id
    fmt::print("registered {}/{} lease {} ttl {}\n", request_.service(), reply.instance_id(), FormatLease(lease_),
               FormatMillis(ttl_ms_));
    std::fflush(stdout);
    return status;
  }

  // Renews every TTL/3 until a stop (returns 0), the lease is gone or the
  // stream is lost (returns 0, to register again), or a renewal is refused
  // for another reason (returns 1).
  int RenewUntilLost() {
    const auto interval = std::max<Clock::duration>(std::chrono::milliseconds(ttl_ms_) / 3,
                                                    std::chrono::milliseconds(100));
    grpc::ClientContext context;
    connection_.Prepare(context);
    watchdog_.Track(&context, Clock::now() + connection_.timeout);  // opening may wait for the connection
    auto stream = stub_->KeepAlive(&context);
    watchdog_.Untrack();
    bool first = true;
    int result = 0;
    for (;;) {
      registry::v1::KeepAliveRequest renewal;
      renewal.set_lease_id(lease_);
      renewal.set_bind_to_stream(first && args_.bind_to_stream);
      first = false;
      registry::v1::KeepAliveResponse response;
      // An answer later than one interval means the registry is gone.
      watchdog_.Track(&context, Clock::now() + std::max<Clock::duration>(interval, connection_.timeout));
      const bool answered = stream->Write(renewal) && stream->Read(&response);
      watchdog_.Untrack();
      if (!answered) {
        if (!watchdog_.stop_requested()) fmt::print(stderr, "registryctl: keep: lost the registry; registering again\n");
        break;
      }
      if (response.code() == static_cast<int>(grpc::StatusCode::NOT_FOUND)) {
        fmt::print(stderr, "registryctl: keep: the lease was gone (registry restarted?); registering again\n");
        break;
      }
      if (response.code() != 0) {
        result = Failed(connection_, "keep: renew",
                        grpc::Status(static_cast<grpc::StatusCode>(response.code()), response.message()));
        break;
      }
      if (watchdog_.WaitFor(interval)) break;
    }
    context.TryCancel();
    (void)stream->Finish();
    if (result == 0 && !watchdog_.stop_requested()) watchdog_.WaitFor(kFirstBackoff);
    return result;
  }

  int DeregisterOnStop() {
    if (lease_ == 0) return 0;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + connection_.timeout);
    connection_.Prepare(context);
    registry::v1::DeregisterRequest request;
    request.set_lease_id(lease_);
    registry::v1::DeregisterResponse reply;
    const grpc::Status status = stub_->Deregister(&context, request, &reply);
    if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
      return Failed(connection_, "keep: deregister", status);
    }
    fmt::print("deregistered {}/{} lease {}\n", request_.service(), request_.instance_id(), FormatLease(lease_));
    return 0;
  }

  const Connection& connection_;
  const KeepArgs& args_;
  std::unique_ptr<registry::v1::Registry::Stub> stub_;
  Watchdog watchdog_;
  registry::v1::RegisterRequest request_;
  uint64_t lease_ = 0;
  uint32_t ttl_ms_ = 0;
};

}  // namespace

int Keep(const Connection& connection, const KeepArgs& args) { return Keeper(connection, args).Run(); }

}  // namespace registryd::ctl
