// registryctl's one-call subcommands: register, heartbeat, deregister,
// discover, ls, health.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include <fmt/core.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "registry/v1/registry.grpc.pb.h"
#include "tools/registryctl/commands.h"
#include "tools/registryctl/output.h"

namespace registryd::ctl {
namespace {

std::unique_ptr<registry::v1::Registry::Stub> Stub(const Connection& connection) {
  return registry::v1::Registry::NewStub(
      connection.Channel());
}

std::unique_ptr<grpc::ClientContext> Context(const Connection& connection) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + connection.timeout);
  connection.Prepare(*context);
  return context;
}

}  // namespace

bool ParseLease(const std::string& text, uint64_t* lease) {
  if (text.empty()) return false;
  char* end = nullptr;
  const bool hex = text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0;
  errno = 0;
  *lease = std::strtoull(text.c_str() + (hex ? 2 : 0), &end, hex ? 16 : 10);
  return errno == 0 && end != nullptr && *end == '\0' && end != text.c_str() + (hex ? 2 : 0);
}

int Register(const Connection& connection, const RegisterArgs& args) {
  registry::v1::RegisterRequest request;
  if (!BuildRegisterRequest(args, &request)) return 2;
  registry::v1::RegisterResponse reply;
  const grpc::Status status = Stub(connection)->Register(Context(connection).get(), request, &reply);
  if (!status.ok()) return Failed(connection, "register", status);
  fmt::print("lease {} instance {} ttl {}\n", FormatLease(reply.lease_id()), reply.instance_id(),
             FormatMillis(reply.ttl_ms()));
  return 0;
}

int Heartbeat(const Connection& connection, uint64_t lease, bool overloaded) {
  registry::v1::HeartbeatRequest request;
  request.set_lease_id(lease);
  request.set_overloaded(overloaded);
  registry::v1::HeartbeatResponse reply;
  const grpc::Status status = Stub(connection)->Heartbeat(Context(connection).get(), request, &reply);
  if (!status.ok()) return Failed(connection, "heartbeat", status);
  fmt::print("renewed lease {} for {}\n", FormatLease(lease), FormatMillis(reply.ttl_ms()));
  return 0;
}

int Deregister(const Connection& connection, uint64_t lease) {
  registry::v1::DeregisterRequest request;
  request.set_lease_id(lease);
  registry::v1::DeregisterResponse reply;
  const grpc::Status status = Stub(connection)->Deregister(Context(connection).get(), request, &reply);
  if (!status.ok()) return Failed(connection, "deregister", status);
  fmt::print("deregistered lease {}\n", FormatLease(lease));
  return 0;
}

int Discover(const Connection& connection, const std::string& service, bool exclude_overloaded, bool json) {
  registry::v1::DiscoverRequest request;
  request.set_service(service);
  request.set_exclude_overloaded(exclude_overloaded);
  registry::v1::DiscoverResponse reply;
  const grpc::Status status = Stub(connection)->Discover(Context(connection).get(), request, &reply);
  if (!status.ok()) return Failed(connection, "discover", status);
  json ? PrintInstancesJson(reply) : PrintInstancesTable(reply);
  return 0;
}

int ListSessions(const Connection& connection, bool json) {
  registry::v1::ListSessionsResponse reply;
  const grpc::Status status = Stub(connection)->ListSessions(Context(connection).get(), {}, &reply);
  if (!status.ok()) return Failed(connection, "sessions", status);
  json ? PrintSessionsJson(reply) : PrintSessionsTable(reply);
  return 0;
}

int ListServices(const Connection& connection, bool json) {
  registry::v1::ListServicesResponse reply;
  const grpc::Status status = Stub(connection)->ListServices(Context(connection).get(), {}, &reply);
  if (!status.ok()) return Failed(connection, "ls", status);
  json ? PrintServicesJson(reply) : PrintServicesTable(reply);
  return 0;
}

int Health(const Connection& connection, const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(
      connection.Channel());
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse reply;
  const grpc::Status status = health->Check(Context(connection).get(), request, &reply);
  if (!status.ok()) return Failed(connection, "health", status);
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(reply.status());
  fmt::print("{}\n", name);
  return reply.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace registryd::ctl
