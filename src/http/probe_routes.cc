#include "http/ops_routes.h"

namespace registryd::http {

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
