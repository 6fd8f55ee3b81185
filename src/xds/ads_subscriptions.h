// One ADS stream's state-of-the-world bookkeeping, per resource type: what
// the client subscribed to, what was last sent (its version, nonce and the
// content of each resource), and whether a response is due. No gRPC here:
// the stream's state machine (server/streams/ads_call.h) feeds it requests and asks
// it what to send.
//
// The rules (the xDS protocol, state of the world):
// - every response of a type carries every subscribed resource of that type;
// - a request whose response_nonce is not the last nonce sent for its type
//   answers an older response: it is ignored (the client answers the newer
//   one too, with its whole subscription);
// - a request carrying the last nonce is an ACK, or with error_detail a NACK;
//   either may change the subscription. Neither is answered unless the
//   subscription changed (or a resource did): a NACKed version is not sent
//   again.
// - a first request (no nonce) is always answered, so a client learns at once
//   that what it named does not exist;
// - an empty list of names subscribes to nothing (registryd does not serve
//   the wildcard: gRPC's clients always name what they want).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "envoy/discovery.pb.h"
#include "xds/resource_type.h"

namespace registryd::xds {

// Names per type and request; more get INVALID_ARGUMENT.
inline constexpr size_t kMaxResourceNames = 1000;

enum class RequestKind : uint8_t { kSubscribe, kAck, kNack, kStale };

struct RequestOutcome {
  ResourceType type;
  RequestKind kind;
  // A response of `type` became due (the names changed, or a first
  // request): the common ACK that changes nothing needs no look at the
  // resources.
  bool due = false;
};

struct SentResponse {
  std::string version_info;
  std::string nonce;
};

class AdsSubscriptions {
 public:
  // Applies one request. INVALID_ARGUMENT, naming the field and its bound,
  // for a type registryd does not serve or too many names. Names longer than
  // a service name can be are left out (they name nothing that exists).
  absl::StatusOr<RequestOutcome> Apply(const envoy::service::discovery::v3::DiscoveryRequest& request);

  // The subscribed names of a type, sorted, without duplicates.
  const std::vector<std::string>& names(ResourceType type) const { return types_[IndexOf(type)].names; }
  // Whether a response of `type` is due, given the content ids its names'
  // resources have now (in the order of names()).
  bool Due(ResourceType type, absl::Span<const uint64_t> content) const;
  // Records a response of `type` carrying `content` (ids in the order of
  // names()); returns its version and nonce.
  SentResponse Sent(ResourceType type, std::vector<uint64_t> content);
  // Whether the names of `type` changed since its last response.
  bool names_changed(ResourceType type) const { return types_[IndexOf(type)].names_changed; }

 private:
  struct TypeState {
    std::vector<std::string> names;
    bool names_changed = false;   // since the last response
    std::vector<uint64_t> sent;   // content ids of the last response
    uint64_t version = 0;
    std::string nonce;
  };
  std::array<TypeState, kResourceTypes> types_;
  uint64_t nonces_ = 0;
};

}  // namespace registryd::xds
