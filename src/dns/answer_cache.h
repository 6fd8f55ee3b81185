// The answers an answerer (one per thread) already serialized: a query for
// a name of a service or instance whose service has not changed since (its
// revision) is answered from these bytes, with the query's id, RD bit and
// question name (the case it was asked in: resolvers that randomize it
// check it) put in. Bounded by kMaxCachedBytes; past it, everything is dropped and built
// again as asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace registryd::dns {

inline constexpr size_t kMaxCachedBytes = 16 << 20;

class AnswerCache {
 public:
  // Everything an answer depends on besides the service's revision.
  struct Key {
    // Lower-case, in presentation form: each form of a service's name
    // (orders.service., _orders._tcp.service.) has answers of its own.
    std::string name;
    uint16_t type = 0;
    uint16_t qclass = 0;
    uint32_t limit = 0;  // the size it had to fit
    bool edns = false;
    uint32_t rotation = 0;  // where its records start

    bool operator==(const Key&) const = default;
    template <typename H>
    friend H AbslHashValue(H state, const Key& key) {
      return H::combine(std::move(state), key.name, key.type, key.qclass, key.limit, key.edns,
                        key.rotation);
    }
  };

  // The answer to `query` from the one stored under `key` at `revision`, if
  // there is one and the query's question name can be put in it.
  std::optional<std::string> Find(const Key& key, uint64_t revision, std::span<const uint8_t> query) const;
  void Store(Key key, uint64_t revision, std::string answer);

 private:
  struct Entry {
    uint64_t revision;
    std::string answer;
  };
  absl::flat_hash_map<Key, Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace registryd::dns
