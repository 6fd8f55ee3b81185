// The dashboard: GET / (the page; its script and style beside it, all built
// into the binary) and the two JSON views it polls, which stay small at any
// size of the registry: the node with its running counts, and one page of a
// service's instances. The list of services is /v1/services (filtered and
// paged by the server).
#include <charconv>
#include <chrono>

#include <fmt/core.h>

#include "core/json_text.h"
#include "core/validation.h"
#include "http/dashboard_assets.h"
#include "http/http_caller.h"
#include "http/ops_routes.h"
#include "metrics/thread_metrics.h"
#include "server/queue/wire_millis.h"

namespace registryd::http {
namespace {

constexpr uint64_t kMaxInstancesPage = 1000;

// Only what the page itself needs, from this origin: no CDN, no inline code.
void ReplyAsset(httplib::Response& response, std::string_view body, const char* type) {
  response.status = 200;
  response.set_header("Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                      "frame-ancestors 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Cache-Control", "no-cache");
  response.set_content(std::string(body), type);
}

std::optional<uint64_t> NumberParameter(const httplib::Request& request, const std::string& name, uint64_t fallback,
                                        uint64_t max, httplib::Response& response) {
  if (!request.has_param(name)) return fallback;
  const std::string value = request.get_param_value(name);
  uint64_t number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size() || number > max) {
    ReplyError(response, 400, fmt::format("{}: must be a whole number from 0 to {} (got '{}')", name, max, value));
    return std::nullopt;
  }
  return number;
}

std::string NodeJson(OpsContext& context) {
  Server& server = context.server();
  const RegistryTotals totals = server.registry().Totals();
  const metrics::MetricTotals counted = metrics::Collect();
  uint64_t heartbeats = 0;
  for (const uint64_t count : counted.heartbeats) heartbeats += count;
  const NodeInfo& info = context.info();
  const auto now = std::chrono::system_clock::now();
  std::string json = fmt::format(
      "{{\"version\":{},\"revision\":{},\"uptimeSeconds\":{:.0f},\"ready\":{},\"grpc\":{},"
      "\"instances\":{},\"services\":{},\"registrations\":{},\"deregistrations\":{},\"expirations\":{},"
      "\"ejections\":{},\"heartbeats\":{},\"settings\":[",
      JsonString(info.version), JsonString(info.revision), std::chrono::duration<double>(now - info.started).count(),
      context.phase() == OpsContext::Phase::kServing && server.serving(), JsonString(server.address()), totals.live,
      totals.services, totals.registered, totals.deregistered, totals.expired, totals.ejected, heartbeats);
  bool first = true;
  for (const auto& [name, value] : info.settings) {
    if (value.empty()) continue;
    json += fmt::format("{}[{},{}]", first ? "" : ",", JsonString(name), JsonString(value));
    first = false;
  }
  json += "],\"peers\":[";
  if (cluster::Cluster* cluster = server.cluster()) {
    first = true;
    for (const std::string& peer : cluster->PeerAddresses()) {
      json += (first ? "" : ",") + JsonString(peer);
      first = false;
    }
  }
  json += "]}";
  return json;
}

}  // namespace

void AddDashboardRoutes(HttpServer& http, OpsContext& context) {
  http.Get("/", [](const httplib::Request&, httplib::Response& response) {
    ReplyAsset(response, kDashboardHtml, "text/html; charset=utf-8");
  });
  http.Get("/dashboard.js", [](const httplib::Request&, httplib::Response& response) {
    ReplyAsset(response, kDashboardJs, "text/javascript; charset=utf-8");
  });
  http.Get("/dashboard.css", [](const httplib::Request&, httplib::Response& response) {
    ReplyAsset(response, kDashboardCss, "text/css; charset=utf-8");
  });
  // Browsers ask for it unbidden; no icon, and no 404 in their console.
  http.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& response) { response.status = 204; });
  http.Get("/v1/dashboard/node", [&context](const httplib::Request& request, httplib::Response& response) {
    const std::optional<auth::CallerRef> caller = ResolveCaller(context, request, response);
    if (!caller || (*caller && Refused((*caller)->MayOnSome(auth::Permission::kRead, "read"), response))) return;
    ReplyJson(response, NodeJson(context));
  });
  // One page of a service's live instances, ejected ones too (in the
  // registry's order; `total` counts them all).
  http.Get("/v1/dashboard/instances", [&context](const httplib::Request& request, httplib::Response& response) {
    if (RefuseUnknownParameters(request, response, {"service", "offset", "limit"})) return;
    const std::string service = request.get_param_value("service");
    if (const absl::Status valid = ValidateService("service", service); !valid.ok()) {
      ReplyError(response, 400, std::string(valid.message()));
      return;
    }
    const std::optional<uint64_t> offset = NumberParameter(request, "offset", 0, UINT32_MAX, response);
    if (!offset) return;
    const std::optional<uint64_t> limit = NumberParameter(request, "limit", 100, kMaxInstancesPage, response);
    if (!limit) return;
    if (!Ready(context, response)) return;
    const std::optional<auth::CallerRef> caller = ResolveCaller(context, request, response);
    if (!caller || (*caller && Refused((*caller)->MayRead(service), response))) return;
    Registry& registry = context.server().registry();
    const TimePoint now = registry.clock().Now();
    std::string instances;
    const Shard::MembersPage page = registry.Members(service, *offset, *limit, [&](const InstanceRecord& record) {
      std::string metadata;
      for (const auto& [key, value] : record.metadata()) {
        metadata += fmt::format("{}{}:{}", metadata.empty() ? "" : ",", JsonString(key), JsonString(value));
      }
      // An instance in a session lives as long as its session: the session's
      // id, open or in grace, or kept by another cluster node.
      std::string session = "null";
      if (record.in_session) {
        if (const std::optional<SessionState> state = registry.sessions().AtSlot(record.filed_at)) {
          session = fmt::format("{{\"id\":\"0x{:016x}\",\"attached\":{},\"elsewhere\":{}}}", state->id,
                                state->attached, state->held_elsewhere);
        }
      }
      instances += fmt::format(
          "{}{{\"instanceId\":{},\"address\":{},\"metadata\":{{{}}},\"overloaded\":{},\"ejected\":{},"
          "\"ttlRemainingMs\":{},\"session\":{}}}",
          instances.empty() ? "" : ",", JsonString(record.instance_id()), JsonString(record.Address()), metadata,
          record.overloaded, record.ejected, ToWireMillis(registry.TimeLeft(record, now)), session);
    });
    ReplyJson(response, fmt::format("{{\"service\":{},\"revision\":\"{}\",\"total\":{},\"offset\":{},\"instances\":[{}]}}",
                                    JsonString(service), page.revision, page.total, *offset, instances));
  });
}

}  // namespace registryd::http
