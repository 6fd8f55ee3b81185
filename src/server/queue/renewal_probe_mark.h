// How a renewal method's handler tells registryd's own renewal probe
// (server/renewal_probe.h) from a client's call: a request no client's
// renewal can be (Rpc::MayBeRenewalProbe), carrying this metadata key. The
// handler answers it at once, with nothing read or changed, and counts and
// logs nothing, so the probes cost the metrics nothing.
#pragma once

#include <string_view>

#include <grpcpp/server_context.h>

namespace registryd {

inline constexpr std::string_view kRenewalProbeKey = "registryd-renewal-probe";

inline bool IsRenewalProbe(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  return metadata.find(grpc::string_ref(kRenewalProbeKey.data(), kRenewalProbeKey.size())) != metadata.end();
}

}  // namespace registryd
