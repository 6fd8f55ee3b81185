#include "cluster/stored_instance.h"

#include <algorithm>
#include <chrono>

#include "registryd/cluster.pb.h"
#include "core/limits.h"

namespace registryd::cluster {

std::string EncodeInstance(const ReplicatedInstance& state, std::string_view holder) {
  StoredInstance stored;
  stored.set_service(state.spec.service);
  stored.set_instance_id(state.spec.instance_id);
  stored.set_lease_id(state.lease);
  stored.set_host(state.spec.host);
  stored.set_port(state.spec.port);
  for (const auto& [key, value] : state.spec.metadata) {
    MetadataEntry* entry = stored.add_metadata();
    entry->set_key(key);
    entry->set_value(value);
  }
  stored.set_ttl_ms(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(state.spec.ttl).count()));
  stored.set_overloaded(state.spec.overloaded);
  stored.set_ejected(state.ejected);
  stored.set_holder(std::string(holder));
  if (state.spec.seed_id) stored.set_seed_id(*state.spec.seed_id);
  stored.set_owner(state.spec.owner);
  stored.set_session_id(state.session);
  return stored.SerializeAsString();
}

std::optional<DecodedInstance> DecodeInstance(std::string_view value) {
  StoredInstance stored;
  if (!stored.ParseFromArray(value.data(), static_cast<int>(value.size()))) return std::nullopt;
  if (stored.service().empty() || stored.instance_id().empty() || stored.lease_id() == kNoLease ||
      stored.port() > 65535 || stored.ttl_ms() == 0 || stored.holder().empty() ||
      stored.owner().size() > limits::kMaxIdentityBytes) {
    return std::nullopt;
  }
  DecodedInstance decoded;
  RegisterSpec& spec = decoded.state.spec;
  spec.service = stored.service();
  spec.instance_id = stored.instance_id();
  spec.host = stored.host();
  spec.port = static_cast<uint16_t>(stored.port());
  for (const MetadataEntry& entry : stored.metadata()) spec.metadata.emplace_back(entry.key(), entry.value());
  std::sort(spec.metadata.begin(), spec.metadata.end());
  spec.ttl = std::chrono::milliseconds(stored.ttl_ms());
  spec.overloaded = stored.overloaded();
  if (stored.has_seed_id()) spec.seed_id = stored.seed_id();
  spec.owner = stored.owner();
  decoded.state.lease = stored.lease_id();
  decoded.state.ejected = stored.ejected();
  decoded.state.session = stored.session_id();
  decoded.holder = stored.holder();
  return decoded;
}

}  // namespace registryd::cluster
