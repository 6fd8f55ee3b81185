#include <algorithm>
#include <charconv>

#include <fmt/core.h>
#include <google/protobuf/util/json_util.h>

#include "core/validation.h"
#include "http/http_caller.h"
#include "http/ops_routes.h"
#include "server/rpcs/discover_reply.h"

namespace registryd::http {
namespace {

constexpr uint64_t kMaxLimit = 100'000;

// A query parameter that must be "true" or "false" (absent: false).
std::optional<bool> BoolParameter(const httplib::Request& request, const std::string& name,
                                  httplib::Response& response) {
  if (!request.has_param(name)) return false;
  const std::string value = request.get_param_value(name);
  if (value == "true") return true;
  if (value == "false") return false;
  ReplyError(response, 400, fmt::format("{}: must be true or false (got '{}')", name, value));
  return std::nullopt;
}

// A count in [1, kMaxLimit] (absent: kMaxLimit).
std::optional<uint64_t> LimitParameter(const httplib::Request& request, httplib::Response& response) {
  if (!request.has_param("limit")) return kMaxLimit;
  const std::string value = request.get_param_value("limit");
  uint64_t limit = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
  if (error != std::errc() || end != value.data() + value.size() || limit == 0 || limit > kMaxLimit) {
    ReplyError(response, 400, fmt::format("limit: must be a whole number from 1 to {} (got '{}')", kMaxLimit, value));
    return std::nullopt;
  }
  return limit;
}

void ReplyMessage(httplib::Response& response, const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  if (const auto printed = google::protobuf::util::MessageToJsonString(message, &json, options); !printed.ok()) {
    ReplyError(response, 500, "cannot print the reply as JSON: " + printed.ToString());
    return;
  }
  ReplyJson(response, std::move(json));
}

}  // namespace

void AddRegistryRoutes(HttpServer& http, OpsContext& context) {
  // Sorted by name; `filter` keeps the names containing it, `after` starts
  // past a name (the last one of the page before), `limit` ends the page.
  // The X-Total-Count header counts every service the filter keeps.
  http.Get("/v1/services", [&context](const httplib::Request& request, httplib::Response& response) {
    if (RefuseUnknownParameters(request, response, {"filter", "after", "limit"})) return;
    const std::optional<uint64_t> limit = LimitParameter(request, response);
    if (!limit || !Ready(context, response)) return;
    // Under a policy, the services the caller may read.
    const std::optional<auth::CallerRef> caller = ResolveCaller(context, request, response);
    if (!caller || (*caller && Refused((*caller)->MayOnSome(auth::Permission::kRead, "read"), response))) return;
    const std::string filter = request.get_param_value("filter");
    const std::string after = request.get_param_value("after");
    registry::v1::ListServicesResponse reply;
    uint64_t total = 0;
    for (const ServiceSummary& service : context.server().registry().ListServices()) {
      if (!filter.empty() && service.name.find(filter) == std::string::npos) continue;
      if (*caller && !(*caller)->CanRead(service.name)) continue;
      ++total;
      if (!after.empty() && service.name <= after) continue;
      if (static_cast<uint64_t>(reply.services_size()) >= *limit) continue;
      registry::v1::ServiceSummary& summary = *reply.add_services();
      summary.set_name(service.name);
      summary.set_instances(service.instances);
    }
    response.set_header("X-Total-Count", std::to_string(total));
    ReplyMessage(response, reply);
  });

  http.Get(R"(/v1/services/([^/]+))", [&context](const httplib::Request& request, httplib::Response& response) {
    if (RefuseUnknownParameters(request, response, {"exclude_overloaded"})) return;
    const std::string service = request.matches[1];
    if (const absl::Status valid = ValidateService("service", service); !valid.ok()) {
      ReplyError(response, 400, std::string(valid.message()));
      return;
    }
    const std::optional<bool> exclude_overloaded = BoolParameter(request, "exclude_overloaded", response);
    if (!exclude_overloaded || !Ready(context, response)) return;
    const std::optional<auth::CallerRef> caller = ResolveCaller(context, request, response);
    if (!caller || (*caller && Refused((*caller)->MayRead(service), response))) return;
    Registry& registry = context.server().registry();
    registry::v1::DiscoverResponse reply;
    FillDiscoverResponse(registry, service, *exclude_overloaded, registry.clock().Now(), reply);
    ReplyMessage(response, reply);
  });
}

}  // namespace registryd::http
