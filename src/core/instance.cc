#include "core/instance.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <fmt/core.h>

#include "core/limits.h"

namespace registryd {

static_assert(limits::kMaxInstanceIdBytes <= UINT8_MAX && limits::kMaxHostBytes <= UINT8_MAX,
              "InstanceRecord keeps the text's sizes in a byte each");

std::optional<int32_t> SeedIdOf(std::string_view instance_id) {
  int32_t id = 0;
  const char* end = instance_id.data() + instance_id.size();
  const auto [parsed_to, error] = std::from_chars(instance_id.data(), end, id);
  if (error != std::errc() || parsed_to != end || std::to_string(id) != instance_id) return std::nullopt;
  return id;
}

void InstanceRecordDeleter::operator()(InstanceRecord* record) const {
  record->~InstanceRecord();
  ::operator delete(record);
}

InstanceRecordPtr InstanceRecord::Make(std::string_view instance_id, std::string_view host) {
  if (instance_id.size() > UINT8_MAX || host.size() > UINT8_MAX) std::abort();  // validation bounds both
  void* memory = ::operator new(sizeof(InstanceRecord) + instance_id.size() + host.size());
  InstanceRecordPtr record(new (memory) InstanceRecord);
  record->instance_id_size_ = static_cast<uint8_t>(instance_id.size());
  record->host_size_ = static_cast<uint8_t>(host.size());
  std::memcpy(record->Text(), instance_id.data(), instance_id.size());
  std::memcpy(record->Text() + instance_id.size(), host.data(), host.size());
  return record;
}

InstanceRecordPtr InstanceRecord::WithHost(InstanceRecord&& from, std::string_view host) {
  InstanceRecordPtr record = Make(from.instance_id(), host);
  record->lease = from.lease;
  record->service = from.service;
  record->deadline = from.deadline;
  record->filed_at = from.filed_at;
  record->ttl = from.ttl;
  record->member_index = from.member_index;
  record->port = from.port;
  record->overloaded = from.overloaded;
  record->ejected = from.ejected;
  record->metadata_ = std::move(from.metadata_);
  record->seed_id_ = from.seed_id_;
  record->has_seed_id_ = from.has_seed_id_;
  return record;
}

const Metadata& InstanceRecord::metadata() const {
  static const Metadata kNone;
  return metadata_ ? *metadata_ : kNone;
}

void InstanceRecord::set_metadata(const Metadata& metadata) {
  if (metadata.empty()) {
    metadata_.reset();
  } else {
    metadata_ = std::make_unique<Metadata>(metadata);
  }
}

std::string InstanceRecord::Address() const {
  if (host().find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host(), port);
  return fmt::format("{}:{}", host(), port);
}

}  // namespace registryd
