// What the registry keeps per registered instance, and the values that cross
// the core's boundary. Plain data: no locking, no gRPC.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/lease_id.h"

namespace registryd {

// Sorted by key, keys unique.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Where a seed client is sent: the seed's QueryReply fields.
struct Endpoint {
  int32_t server_id;
  std::string host;
  uint16_t port;
};

// A validated registration, from either API.
struct RegisterSpec {
  std::string service;
  std::string instance_id;  // empty: the registry assigns one
  std::string host;
  uint16_t port = 0;
  Metadata metadata;
  Duration ttl{};  // already clamped to the server's bounds
  bool overloaded = false;
  // The identity that registered it (under an authorization policy, when
  // the caller has one): only it, or an admin, may renew, change or remove
  // it. Set for restores and replicas; a caller's registration takes its
  // Access's identity instead.
  std::string owner;
  // The seed API's serverId: set for seed registrations, and for native ones
  // whose instance id is a canonical decimal int32 (see SeedIdOf).
  std::optional<int32_t> seed_id;
  // Restoring from the data dir: the lease id to keep (when free; an
  // instance already there under another lease is replaced), and how much
  // later than a fresh TTL the first deadline falls (restored deadlines are
  // spread so that servers that died meanwhile do not expire at once).
  LeaseId restore_lease = kNoLease;
  Duration restore_delay{};
  // Set: the instance goes into this session (core/session_table.h), held
  // by the stream of `session_attachment`; `ttl` is then the session's.
  uint64_t session = 0;
  uint64_t session_attachment = 0;
};

struct RegisterResult {
  LeaseId lease;
  std::string instance_id;
  Duration ttl;
  bool created;  // false: an existing instance was updated
};

// The seed id a native instance id stands for: "42" and "-7" do, "042",
// "+7" and "web-1" do not (one id, one spelling, so the id maps to one key).
std::optional<int32_t> SeedIdOf(std::string_view instance_id);

struct ServiceState;
class InstanceRecord;

struct InstanceRecordDeleter {
  void operator()(InstanceRecord* record) const;
};
using InstanceRecordPtr = std::unique_ptr<InstanceRecord, InstanceRecordDeleter>;

// A live instance, laid out for scale (a registry holds millions): one
// allocation holds the fixed fields (48 bytes) and, after them, the instance
// id's and the host's bytes and the metadata, packed, and in cluster mode
// the store's revision (8 bytes more only there: standalone, 48 + 23 bytes
// of text fit malloc's 80-byte chunk, 56 + 23 would take 96), and under an
// authorization policy the owner's identity (1 + its size). Instances are looked up
// through their shard's RecordTable; what changes size (host, metadata) moves
// the record to a new allocation.
class InstanceRecord {
 public:
  // A record holding copies of `instance_id`, `host` and `owner` (at most
  // 255 bytes each) and `metadata` (values at most 65 535 bytes, the whole at
  // most 65 535 bytes packed; validation bounds all of them lower).
  // `with_revision`: with room for stored_revision (cluster mode).
  static InstanceRecordPtr Make(std::string_view instance_id, std::string_view host,
                                const Metadata& metadata, bool with_revision = false,
                                std::string_view owner = {});
  // A record with `host`, `metadata` and `owner` that takes over everything
  // else from `from`, with room for stored_revision if `from` had it or
  // `with_revision`.
  static InstanceRecordPtr WithText(const InstanceRecord& from, std::string_view host,
                                    const Metadata& metadata, std::string_view owner,
                                    bool with_revision = false);
  // A copy of the whole record, text included.
  InstanceRecordPtr Clone() const;
  // The text lives past the object: a copy would not carry it.
  InstanceRecord(const InstanceRecord&) = delete;
  InstanceRecord& operator=(const InstanceRecord&) = delete;

  std::string_view instance_id() const { return {Text(), instance_id_size_}; }
  std::string_view host() const { return {Text() + instance_id_size_, host_size_}; }
  // "host:port", with brackets around an IPv6 host.
  std::string Address() const;

  Metadata metadata() const;  // unpacked; empty when there is none
  bool HasMetadata(const Metadata& metadata) const;
  // The identity that registered it; empty without one.
  std::string_view owner() const {
    if (!has_owner_) return {};
    const char* slot = OwnerSlot();
    return {slot + 1, static_cast<uint8_t>(slot[0])};
  }
  // Its host, metadata or owner differ from the spec's: a change of them
  // needs a new record (WithText).
  bool TextDiffers(std::string_view host, const Metadata& metadata, std::string_view owner) const {
    return this->host() != host || !HasMetadata(metadata) || this->owner() != owner;
  }

  std::optional<int32_t> seed_id() const {
    return has_seed_id_ ? std::optional<int32_t>(seed_id_) : std::nullopt;
  }
  void set_seed_id(std::optional<int32_t> seed_id) {
    has_seed_id_ = seed_id.has_value();
    seed_id_ = seed_id.value_or(0);
  }

  // Cluster mode (core/replica.h): the node that keeps the lease, as a slot
  // of the cluster's node table; 0 is this node (always, standalone).
  uint8_t holder() const { return holder_; }
  void set_holder(uint8_t holder) { holder_ = holder; }

  // Cluster mode (core/replica.h): the store's revision of this state; 0
  // for a record made without room for it.
  bool has_stored_revision() const { return has_revision_; }
  uint64_t stored_revision() const;
  void set_stored_revision(uint64_t revision);  // only with room for it

  // Whole milliseconds: the native API's unit, and 4 bytes instead of 8.
  Duration ttl() const { return std::chrono::milliseconds(ttl_ms_); }
  void set_ttl(Duration ttl);

  LeaseId lease = kNoLease;
  ServiceState* service = nullptr;
  TimePoint deadline{};
  uint32_t member_index = 0;  // position in service->members
  // The tick of the lease's timer-wheel entry (TimerWheel::TickStamp). An
  // older entry left behind when the deadline moved earlier is dropped when it
  // comes round.
  uint32_t filed_at = 0;
  uint16_t port = 0;
  bool overloaded : 1 = false;
  // A client reported it unreachable (seed warnServerError): out of discovery
  // until its next heartbeat.
  bool ejected : 1 = false;
  // In a session (core/session_table.h): it lives as long as the session,
  // its deadline is TimePoint::max(), it has no timer-wheel entry, and
  // filed_at holds the session's slot instead of a tick.
  bool in_session : 1 = false;

 private:
  InstanceRecord() = default;
  // A record with room for `metadata_size` packed bytes, id, host and owner copied in.
  static InstanceRecordPtr Allocate(std::string_view instance_id, std::string_view host, size_t metadata_size,
                                    std::string_view owner, bool with_revision);
  // Every field but the text.
  void CopyFieldsFrom(const InstanceRecord& from);
  const char* Text() const { return reinterpret_cast<const char*>(this + 1); }
  char* Text() { return reinterpret_cast<char*>(this + 1); }
  std::string_view PackedMetadata() const {
    return {Text() + instance_id_size_ + host_size_, metadata_size_};
  }
  // After the metadata: the owner's size (a byte) and bytes, when it has one.
  char* OwnerSlot() const { return const_cast<char*>(Text()) + instance_id_size_ + host_size_ + metadata_size_; }
  size_t OwnerSlotSize() const { return has_owner_ ? 1 + static_cast<uint8_t>(*OwnerSlot()) : 0; }
  // After the owner, unaligned.
  char* RevisionSlot() const { return OwnerSlot() + OwnerSlotSize(); }

  // Packed beside the public flags, after them: the record stays 48 bytes.
  bool has_seed_id_ : 1 = false;
  bool has_revision_ : 1 = false;
  bool has_owner_ : 1 = false;
  uint8_t instance_id_size_ = 0;
  uint32_t ttl_ms_ = 0;
  // The serverId seed clients know it by; without one, findServer never
  // offers it (a seed client could not name it in warnServerError).
  int32_t seed_id_ = 0;
  uint16_t metadata_size_ = 0;
  uint8_t host_size_ = 0;
  uint8_t holder_ = 0;
};

}  // namespace registryd
