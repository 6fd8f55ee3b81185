#include "http/ops_routes.h"

#include <fmt/core.h>

namespace registryd::http {

bool Ready(OpsContext& context, httplib::Response& response) {
  if (context.phase() == OpsContext::Phase::kServing) return true;
  ReplyError(response, 503, context.phase() == OpsContext::Phase::kStarting
                                ? "starting: the registry is not loaded yet"
                                : "stopping");
  return false;
}

bool RefuseUnknownParameters(const httplib::Request& request, httplib::Response& response,
                             std::initializer_list<std::string_view> known) {
  const std::optional<std::string> unknown = UnknownParameter(request, known);
  if (!unknown) return false;
  std::string names;
  for (const std::string_view name : known) names += (names.empty() ? "" : ", ") + std::string(name);
  ReplyError(response, 400, fmt::format("unknown query parameter '{}': {} takes {}", *unknown, request.path, names));
  return true;
}

void AddProbeRoutes(HttpServer& http, OpsContext& context) {
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    ReplyJson(response, R"({"status":"ok"})");
  });
  http.Get("/readyz", [&context](const httplib::Request&, httplib::Response& response) {
    switch (context.phase()) {
      case OpsContext::Phase::kServing:
        if (context.server().serving()) {
          ReplyJson(response, R"({"status":"serving"})");
        } else {
          ReplyError(response, 503, "not serving: this cluster node lost etcd or its view of it is stale");
        }
        return;
      case OpsContext::Phase::kStarting:
        ReplyError(response, 503, "starting: restoring the data dir or loading the catalog from etcd");
        return;
      case OpsContext::Phase::kStopping:
        ReplyError(response, 503, "stopping");
        return;
    }
  });
}

}  // namespace registryd::http
