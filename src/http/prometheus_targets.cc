// GET /v1/prometheus/targets: Prometheus' HTTP service discovery format, so
// one http_sd_configs block makes Prometheus scrape every registered server
// (as consul_sd_configs does for Consul). One target group per instance:
// its labels are its own.
#include <algorithm>
#include <map>

#include <fmt/core.h>

#include "core/validation.h"
#include "core/json_text.h"
#include "http/http_caller.h"
#include "http/ops_routes.h"
#include "http/prometheus_labels.h"

namespace registryd::http {
namespace {

void AppendGroup(std::string& json, std::string_view service, const InstanceRecord& record) {
  // Sorted, so that two keys that sanitize alike resolve the same way on every call: the first wins.
  const Metadata entries = record.metadata();
  const std::map<std::string, std::string> metadata(entries.begin(), entries.end());
  const std::string address = record.Address();
  std::map<std::string, std::string_view> labels;
  labels.emplace("__meta_registryd_service", service);
  labels.emplace("__meta_registryd_instance_id", record.instance_id());
  labels.emplace("__meta_registryd_overloaded", record.overloaded ? "true" : "false");
  for (const auto& [key, value] : metadata) labels.emplace("__meta_registryd_metadata_" + SanitizeLabelName(key), value);
  if (json.size() > 1) json += ',';
  json += "{\"targets\":[";
  json += JsonString(address);
  json += "],\"labels\":{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) json += ',';
    first = false;
    json += JsonString(name);
    json += ':';
    json += JsonString(value);
  }
  json += "}}";
}

}  // namespace

void AddPrometheusTargetsRoute(HttpServer& http, OpsContext& context) {
  http.Get("/v1/prometheus/targets", [&context](const httplib::Request& request, httplib::Response& response) {
    if (RefuseUnknownParameters(request, response, {"service"})) return;
    std::vector<std::string> services;
    if (request.has_param("service")) {
      const std::string service = request.get_param_value("service");
      if (const absl::Status valid = ValidateService("service", service); !valid.ok()) {
        ReplyError(response, 400, std::string(valid.message()));
        return;
      }
      services.push_back(service);
    }
    if (!Ready(context, response)) return;
    // Under a policy: a named service needs read on it; all of them are
    // the ones the caller may read.
    const std::optional<auth::CallerRef> caller = ResolveCaller(context, request, response);
    if (!caller) return;
    if (*caller) {
      const absl::Status check = services.empty() ? (*caller)->MayOnSome(auth::Permission::kRead, "read")
                                                  : (*caller)->MayRead(services.front());
      if (Refused(check, response)) return;
    }
    Registry& registry = context.server().registry();
    if (services.empty()) {
      for (const ServiceSummary& summary : registry.ListServices()) {
        if (!*caller || (*caller)->CanRead(summary.name)) services.push_back(summary.name);
      }
    }
    std::string json = "[";
    for (const std::string& service : services) {
      registry.Discover(service, /*exclude_overloaded=*/false,
                        [&](const InstanceRecord& record) { AppendGroup(json, service, record); });
    }
    json += ']';
    ReplyJson(response, std::move(json));
  });
}

}  // namespace registryd::http
