// An instance's value in etcd (cluster.proto's StoredInstance), to and from
// the registry's ReplicatedInstance.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/replica.h"

namespace registryd::cluster {

// `holder`: the name of the node that keeps the lease (state.holder is ignored).
std::string EncodeInstance(const ReplicatedInstance& state, std::string_view holder);

struct DecodedInstance {
  ReplicatedInstance state;  // holder and stored_revision not set
  std::string holder;
};
// Nothing when the value is not a well-formed instance.
std::optional<DecodedInstance> DecodeInstance(std::string_view value);

}  // namespace registryd::cluster
