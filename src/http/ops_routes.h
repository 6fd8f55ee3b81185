// The HTTP face's routes, one group per file.
#pragma once

#include "http/http_server.h"
#include "http/ops_context.h"

namespace registryd::http {

// Answers 503 (and false) until the node serves: a restore or a catalog
// load under way is no view to show.
bool Ready(OpsContext& context, httplib::Response& response);
// Answers 400 (and true) when `request` has a query parameter not in `known`.
bool RefuseUnknownParameters(const httplib::Request& request, httplib::Response& response,
                             std::initializer_list<std::string_view> known);

// GET /healthz (the process answers) and /readyz (serving: 503 while
// starting or stopping), for probes.
void AddProbeRoutes(HttpServer& http, OpsContext& context);
// GET /v1/services and /v1/services/{name}: ListServices and Discover in
// protobuf's JSON mapping of registry.v1.
void AddRegistryRoutes(HttpServer& http, OpsContext& context);
// GET /metrics: Prometheus' text format.
void AddMetricsRoute(HttpServer& http, OpsContext& context);
// GET /v1/prometheus/targets: Prometheus' HTTP service discovery.
void AddPrometheusTargetsRoute(HttpServer& http, OpsContext& context);
// GET /, its script and style, and the JSON views the page polls.
void AddDashboardRoutes(HttpServer& http, OpsContext& context);

// Every route.
inline void AddOpsRoutes(HttpServer& http, OpsContext& context) {
  AddProbeRoutes(http, context);
  AddRegistryRoutes(http, context);
  AddMetricsRoute(http, context);
  AddPrometheusTargetsRoute(http, context);
  AddDashboardRoutes(http, context);
}

}  // namespace registryd::http
