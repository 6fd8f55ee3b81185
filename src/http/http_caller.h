// Who asks the HTTP face, under an authorization policy: as on the gRPC port,
// the client certificate's identity (mutual TLS) wins, else the bearer
// token's (`Authorization: Bearer ...`), else nobody. Resolved per request:
// the face is for operators and dashboards, not the heartbeat path.
#pragma once

#include <optional>
#include <string_view>

#include <httplib.h>

#include "absl/status/status.h"
#include "auth/caller.h"
#include "http/ops_context.h"

namespace registryd::http {

// The caller (null without a policy), or nothing after answering 401 for an
// unknown token.
std::optional<auth::CallerRef> ResolveCaller(OpsContext& context, const httplib::Request& request,
                                             httplib::Response& response);

// Answers a refusal (401 or 403, with its message) and returns true; false
// for OK.
bool Refused(const absl::Status& check, httplib::Response& response);

}  // namespace registryd::http
