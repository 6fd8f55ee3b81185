#include "server/rpcs/discover_reply.h"

#include <algorithm>

#include "server/rpcs/native_rpcs.h"

namespace registryd {

TimePoint FillDiscoverResponse(Registry& registry, std::string_view service, bool exclude_overloaded, TimePoint now,
                               registry::v1::DiscoverResponse& response) {
  TimePoint first_deadline = TimePoint::max();
  const uint64_t revision = registry.Discover(service, exclude_overloaded, [&](const InstanceRecord& record) {
    registry::v1::Instance& instance = *response.add_instances();
    instance.set_service(service.data(), service.size());
    instance.set_instance_id(record.instance_id().data(), record.instance_id().size());
    instance.set_address(record.Address());
    for (auto& [key, value] : record.metadata()) (*instance.mutable_metadata())[key] = std::move(value);
    instance.set_overloaded(record.overloaded);
    instance.set_ttl_remaining_ms(ToWireMillis(registry.TimeLeft(record, now)));
    first_deadline = std::min(first_deadline, record.deadline);
  });
  response.set_revision(revision);
  return first_deadline;
}

}  // namespace registryd
