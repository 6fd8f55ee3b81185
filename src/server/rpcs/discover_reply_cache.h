// Serialized Discover replies, reused while they still tell the truth: the
// service's revision is the same (no instance added, removed or changed), no
// listed lease has passed its deadline, and the reply is younger than
// `max_age` (the registry's tick), so its ttl_remaining_ms values are at most
// that much below the leases' true time left. Under many discoveries of few
// services, a call then costs a lookup instead of building and serializing
// the instance list.
//
// One cache per queue thread, so no lock; bounded by `max_bytes`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"
#include "core/name_hash.h"
#include "core/shard.h"

namespace registryd {

class DiscoverReplyCache {
 public:
  DiscoverReplyCache(Duration max_age, size_t max_bytes) : max_age_(max_age), max_bytes_(max_bytes) {}

  // The reply cached for the query, if it is still valid at `now` for the
  // service's current `revision`; nullptr otherwise.
  const grpc::ByteBuffer* Find(std::string_view service, bool exclude_overloaded, uint64_t revision,
                               TimePoint now) const;

  // Keeps `reply`, built at `built` from the service at `revision`;
  // `first_deadline` is the earliest deadline among the listed leases.
  void Store(std::string_view service, bool exclude_overloaded, uint64_t revision, TimePoint built,
             TimePoint first_deadline, grpc::ByteBuffer reply);

  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    uint64_t revision;
    TimePoint valid_until;
    grpc::ByteBuffer reply;
    size_t bytes;
  };
  using Entries = absl::flat_hash_map<std::string, Entry, NameHash, NameEq>;

  Entries& EntriesFor(bool exclude_overloaded) { return exclude_overloaded ? excluding_overloaded_ : all_; }
  // Makes room for `bytes` more, dropping what is out of date first.
  bool MakeRoom(size_t bytes, TimePoint now);

  Duration max_age_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  Entries all_;
  Entries excluding_overloaded_;
};

}  // namespace registryd
