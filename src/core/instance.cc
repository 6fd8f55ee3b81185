#include "core/instance.h"

#include <charconv>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include <fmt/core.h>

#include "core/limits.h"

namespace registryd {

static_assert(sizeof(InstanceRecord) == 48, "the fixed part of a record is sized for 1M leases in 150 MB");

namespace {

// Metadata packed after the host: per entry, the key's size (1 byte), the
// value's size (2 bytes, little-endian), the key, the value.
constexpr size_t kEntryHeaderBytes = 3;

size_t PackedSize(const Metadata& metadata) {
  size_t size = 0;
  for (const auto& [key, value] : metadata) size += kEntryHeaderBytes + key.size() + value.size();
  return size;
}

char* Pack(const Metadata& metadata, char* out) {
  for (const auto& [key, value] : metadata) {
    out[0] = static_cast<char>(key.size());
    out[1] = static_cast<char>(value.size() & 0xff);
    out[2] = static_cast<char>(value.size() >> 8);
    out = std::copy(key.begin(), key.end(), out + kEntryHeaderBytes);
    out = std::copy(value.begin(), value.end(), out);
  }
  return out;
}

// Calls `visit(key, value)` for each packed entry until it returns false.
template <typename Visit>
void ForEachEntry(std::string_view packed, Visit&& visit) {
  while (!packed.empty()) {
    const auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(packed[i])); };
    const size_t key_size = byte(0);
    const size_t value_size = byte(1) | byte(2) << 8;
    const std::string_view key = packed.substr(kEntryHeaderBytes, key_size);
    const std::string_view value = packed.substr(kEntryHeaderBytes + key_size, value_size);
    if (!visit(key, value)) return;
    packed.remove_prefix(kEntryHeaderBytes + key_size + value_size);
  }
}

}  // namespace

static_assert(limits::kMaxInstanceIdBytes <= UINT8_MAX && limits::kMaxHostBytes <= UINT8_MAX &&
                  limits::kMaxMetadataKeyBytes <= UINT8_MAX &&
                  limits::kMaxMetadataBytes + limits::kMaxMetadataEntries * kEntryHeaderBytes <= UINT16_MAX,
              "InstanceRecord keeps the text's sizes in a byte each and the packed metadata's in two");

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

InstanceRecordPtr InstanceRecord::Allocate(std::string_view instance_id, std::string_view host,
                                           size_t metadata_size, std::string_view owner, bool with_revision) {
  if (instance_id.size() > UINT8_MAX || host.size() > UINT8_MAX || metadata_size > UINT16_MAX ||
      owner.size() > UINT8_MAX) {
    std::abort();  // validation bounds all of them lower
  }
  const size_t owner_size = owner.empty() ? 0 : 1 + owner.size();
  const size_t revision_size = with_revision ? sizeof(uint64_t) : 0;
  void* memory = ::operator new(sizeof(InstanceRecord) + instance_id.size() + host.size() + metadata_size +
                                owner_size + revision_size);
  InstanceRecordPtr record(new (memory) InstanceRecord);
  record->has_revision_ = with_revision;
  record->has_owner_ = !owner.empty();
  record->instance_id_size_ = static_cast<uint8_t>(instance_id.size());
  record->host_size_ = static_cast<uint8_t>(host.size());
  record->metadata_size_ = static_cast<uint16_t>(metadata_size);
  std::copy(host.begin(), host.end(), std::copy(instance_id.begin(), instance_id.end(), record->Text()));
  if (!owner.empty()) {
    char* slot = record->OwnerSlot();
    slot[0] = static_cast<char>(owner.size());
    std::copy(owner.begin(), owner.end(), slot + 1);
  }
  if (with_revision) record->set_stored_revision(0);
  return record;
}


uint64_t InstanceRecord::stored_revision() const {
  if (!has_revision_) return 0;
  uint64_t revision = 0;
  std::memcpy(&revision, RevisionSlot(), sizeof(revision));
  return revision;
}

void InstanceRecord::set_stored_revision(uint64_t revision) {
  if (!has_revision_) std::abort();  // made without room for it
  std::memcpy(RevisionSlot(), &revision, sizeof(revision));
}

InstanceRecordPtr InstanceRecord::Make(std::string_view instance_id, std::string_view host,
                                       const Metadata& metadata, bool with_revision, std::string_view owner) {
  for (const auto& [key, value] : metadata) {
    if (key.size() > UINT8_MAX || value.size() > UINT16_MAX) std::abort();  // validation bounds both lower
  }
  InstanceRecordPtr record = Allocate(instance_id, host, PackedSize(metadata), owner, with_revision);
  Pack(metadata, record->Text() + instance_id.size() + host.size());
  return record;
}

InstanceRecordPtr InstanceRecord::WithText(const InstanceRecord& from, std::string_view host,
                                           const Metadata& metadata, std::string_view owner, bool with_revision) {
  InstanceRecordPtr record = Make(from.instance_id(), host, metadata, with_revision || from.has_revision_, owner);
  record->CopyFieldsFrom(from);
  return record;
}

InstanceRecordPtr InstanceRecord::Clone() const {
  const std::string_view packed = PackedMetadata();
  InstanceRecordPtr record = Allocate(instance_id(), host(), packed.size(), owner(), has_revision_);
  std::copy(packed.begin(), packed.end(), record->Text() + instance_id_size_ + host_size_);
  record->CopyFieldsFrom(*this);
  return record;
}

void InstanceRecord::CopyFieldsFrom(const InstanceRecord& from) {
  lease = from.lease;
  service = from.service;
  deadline = from.deadline;
  member_index = from.member_index;
  filed_at = from.filed_at;
  port = from.port;
  overloaded = from.overloaded;
  ejected = from.ejected;
  in_session = from.in_session;
  if (has_revision_) set_stored_revision(from.stored_revision());
  holder_ = from.holder_;
  has_seed_id_ = from.has_seed_id_;
  ttl_ms_ = from.ttl_ms_;
  seed_id_ = from.seed_id_;
}

Metadata InstanceRecord::metadata() const {
  Metadata metadata;
  ForEachEntry(PackedMetadata(), [&](std::string_view key, std::string_view value) {
    metadata.emplace_back(key, value);
    return true;
  });
  return metadata;
}

bool InstanceRecord::HasMetadata(const Metadata& metadata) const {
  auto expected = metadata.begin();
  bool same = true;
  ForEachEntry(PackedMetadata(), [&](std::string_view key, std::string_view value) {
    // Never past the end: the record may hold more entries than `metadata`.
    same = expected != metadata.end() && expected->first == key && expected->second == value;
    if (same) ++expected;
    return same;
  });
  return same && expected == metadata.end();
}

void InstanceRecord::set_ttl(Duration ttl) {
  const auto milliseconds = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  if (milliseconds < 0 || milliseconds > UINT32_MAX) std::abort();  // the registry clamps TTLs to days
  ttl_ms_ = static_cast<uint32_t>(milliseconds);
}

std::string InstanceRecord::Address() const {
  if (host().find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host(), port);
  return fmt::format("{}:{}", host(), port);
}

}  // namespace registryd
