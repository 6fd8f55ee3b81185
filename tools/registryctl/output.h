// How registryctl prints: tables for people, JSON for scripts, and one line
// on stderr for a failure.
#pragma once

#include <cstdint>
#include <string>

#include <grpcpp/support/status.h>

#include "registry/v1/registry.pb.h"
#include "tools/registryctl/commands.h"

namespace registryd::ctl {

std::string FormatLease(uint64_t lease);  // 0x-prefixed, 16 hex digits
// "NOT_FOUND" and the like.
const char* CodeName(grpc::StatusCode code);
std::string FormatMillis(uint32_t millis);  // "60s", "1.5s", "250ms"

// Prints "registryctl: WHAT: why" and returns the exit code (1).
int Failed(const Connection& connection, const std::string& what, const grpc::Status& status);

// Fills a Register request from the flags; prints the problem and returns
// false for a malformed --meta.
bool BuildRegisterRequest(const RegisterArgs& args, registry::v1::RegisterRequest* request);

void PrintInstancesTable(const registry::v1::DiscoverResponse& reply);
void PrintInstancesJson(const registry::v1::DiscoverResponse& reply);
void PrintServicesTable(const registry::v1::ListServicesResponse& reply);
void PrintServicesJson(const registry::v1::ListServicesResponse& reply);
void PrintSessionsTable(const registry::v1::ListSessionsResponse& reply);
void PrintSessionsJson(const registry::v1::ListSessionsResponse& reply);
// A watch response: for a snapshot, a header line and "= service/id ..." per
// instance; for changes, "+" added, "~" updated, "-" removed (with why).
void PrintWatchLines(const registry::v1::WatchResponse& response);
void PrintWatchJson(const registry::v1::WatchResponse& response);  // one line

}  // namespace registryd::ctl
