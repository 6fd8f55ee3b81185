#include "persist/stored_records.h"

#include "core/limits.h"
#include "core/validation.h"
#include "persist/record_file.h"
#include "registryd/stored.pb.h"

namespace registryd {
namespace {

// Serialized straight into the frame: no string of its own.
void AppendRecordFrame(std::string& out, const stored::Record& record) {
  AppendFrameInPlace(out, record.ByteSizeLong(), [&](char* at) {
    record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(at));
  });
}

// The same checks as a Register request's: a record is data from disk.
absl::Status Validate(const stored::Instance& instance, RegisterSpec& spec) {
  spec.service = instance.service();
  spec.instance_id = instance.instance_id();
  spec.host = instance.host();
  if (absl::Status check = ValidateService("service", spec.service); !check.ok()) return check;
  if (absl::Status check = ValidateInstanceId("instance_id", spec.instance_id); !check.ok()) return check;
  if (absl::Status check = ValidateHost("host", spec.host); !check.ok()) return check;
  if (absl::Status check = ValidatePort("port", instance.port()); !check.ok()) return check;
  spec.port = static_cast<uint16_t>(instance.port());
  if (instance.owner().size() > limits::kMaxIdentityBytes) return absl::InvalidArgumentError("owner too long");
  spec.owner = instance.owner();
  for (const stored::MetadataEntry& entry : instance.metadata()) spec.metadata.emplace_back(entry.key(), entry.value());
  return ValidateMetadata("metadata", spec.metadata);
}

void AppendPutFrame(std::string& out, std::string_view service, const InstanceRecord& instance) {
  stored::Record record;
  stored::Instance& put = *record.mutable_put();
  put.set_service(service.data(), service.size());
  put.set_instance_id(instance.instance_id().data(), instance.instance_id().size());
  put.set_lease_id(instance.lease);
  put.set_host(instance.host().data(), instance.host().size());
  put.set_port(instance.port);
  for (auto& [key, value] : instance.metadata()) {
    stored::MetadataEntry& entry = *put.add_metadata();
    entry.set_key(std::move(key));
    entry.set_value(std::move(value));
  }
  put.set_ttl_ms(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(instance.ttl()).count()));
  put.set_overloaded(instance.overloaded);
  put.set_owner(instance.owner().data(), instance.owner().size());
  AppendRecordFrame(out, record);
}

void AppendEjectedFrame(std::string& out, LeaseId lease) {
  stored::Record record;
  record.set_ejected(lease);
  AppendRecordFrame(out, record);
}

}  // namespace

void AppendChangeFrame(std::string& out, const Change& change) {
  const InstanceRecord& instance = *change.instance;
  if (change.kind != ChangeKind::kRemoved) {
    AppendPutFrame(out, change.service, instance);
  } else if (change.reason == RemovalReason::kEjected) {
    AppendEjectedFrame(out, instance.lease);
  } else {
    stored::Record record;
    record.set_removed(instance.lease);
    AppendRecordFrame(out, record);
  }
}

int AppendInstanceFrames(std::string& out, std::string_view service, const InstanceRecord& instance) {
  AppendPutFrame(out, service, instance);
  if (!instance.ejected) return 1;
  AppendEjectedFrame(out, instance.lease);
  return 2;
}

void AppendSnapshotEndFrame(std::string& out, uint64_t records) {
  stored::Record record;
  record.set_snapshot_end(records);
  AppendRecordFrame(out, record);
}

absl::Status ApplyRecord(Registry& registry, std::string_view bytes, const RestoreOptions& options,
                         absl::BitGen& random, RestoreCounts& counts, std::optional<uint64_t>* snapshot_end) {
  stored::Record record;
  if (!record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("a record that does not parse");
  }
  switch (record.change_case()) {
    case stored::Record::kPut: {
      RegisterSpec spec;
      if (!Validate(record.put(), spec).ok()) {
        ++counts.refused;
        return absl::OkStatus();
      }
      spec.ttl = registry.GrantTtl(std::chrono::milliseconds(record.put().ttl_ms()));
      spec.overloaded = record.put().overloaded();
      spec.restore_lease = record.put().lease_id();
      spec.restore_delay = std::chrono::duration_cast<Duration>(
          absl::Uniform(random, 0.0, 1.0) * std::chrono::duration<double>(options.spread));
      if (registry.Register(spec).ok()) {
        ++counts.registered;
      } else {
        ++counts.refused;
      }
      return absl::OkStatus();
    }
    case stored::Record::kRemoved:
      if (registry.Deregister(record.removed()).ok()) ++counts.removed;
      return absl::OkStatus();
    case stored::Record::kEjected:
      if (registry.Eject(record.ejected())) ++counts.ejected;
      return absl::OkStatus();
    case stored::Record::kSnapshotEnd:
      *snapshot_end = record.snapshot_end();
      return absl::OkStatus();
    case stored::Record::CHANGE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("a record of an unknown kind");
}

}  // namespace registryd
