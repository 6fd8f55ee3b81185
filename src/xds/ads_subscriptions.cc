#include "xds/ads_subscriptions.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "core/limits.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace registryd::xds {
namespace {

constexpr size_t kMaxEchoedTypeUrl = 128;

absl::Status UnservedType(std::string_view type_url) {
  const std::string shown = type_url.size() <= kMaxEchoedTypeUrl
                                ? "'" + absl::CHexEscape(absl::string_view(type_url.data(), type_url.size())) + "'"
                                : fmt::format("{} bytes", type_url.size());
  return absl::InvalidArgumentError(fmt::format("type_url: must be one of {} (got {})",
                                                fmt::join(kTypeUrls, ", "), shown));
}

}  // namespace

absl::StatusOr<RequestOutcome> AdsSubscriptions::Apply(const envoy::service::discovery::v3::DiscoveryRequest& request) {
  const std::optional<ResourceType> type = TypeOfUrl(request.type_url());
  if (!type) return UnservedType(request.type_url());
  if (request.resource_names_size() > static_cast<int>(kMaxResourceNames)) {
    return absl::InvalidArgumentError(fmt::format("resource_names: at most {} per type (got {})", kMaxResourceNames,
                                                  request.resource_names_size()));
  }
  TypeState& state = types_[IndexOf(*type)];
  if (!request.response_nonce().empty() && request.response_nonce() != state.nonce) {
    return RequestOutcome{*type, RequestKind::kStale};
  }
  const RequestKind kind = request.response_nonce().empty() ? RequestKind::kSubscribe
                           : request.has_error_detail()     ? RequestKind::kNack
                                                            : RequestKind::kAck;
  // The common case, an ACK naming what it named before in the same order:
  // nothing to sort or store.
  if (kind != RequestKind::kSubscribe &&
      std::equal(request.resource_names().begin(), request.resource_names().end(), state.names.begin(),
                 state.names.end())) {
    return RequestOutcome{*type, kind, false};
  }
  std::vector<std::string> names;
  names.reserve(request.resource_names_size());
  for (const std::string& name : request.resource_names()) {
    if (name.size() <= limits::kMaxServiceBytes) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // A first request is answered even when it names nothing that exists: the
  // client learns at once that its listener or cluster does not exist.
  if (names != state.names || kind == RequestKind::kSubscribe) {
    state.names = std::move(names);
    state.names_changed = true;
    return RequestOutcome{*type, kind, true};
  }
  return RequestOutcome{*type, kind, false};
}

bool AdsSubscriptions::Due(ResourceType type, absl::Span<const uint64_t> content) const {
  const TypeState& state = types_[IndexOf(type)];
  return state.names_changed || !std::equal(content.begin(), content.end(), state.sent.begin(), state.sent.end());
}

SentResponse AdsSubscriptions::Sent(ResourceType type, std::vector<uint64_t> content) {
  TypeState& state = types_[IndexOf(type)];
  state.names_changed = false;
  state.sent = std::move(content);
  state.nonce = std::to_string(++nonces_);
  return {std::to_string(++state.version), state.nonce};
}

}  // namespace registryd::xds
