// Hash sets of record indexes keyed by a field of the record each index names
// (its lease, its instance id): 4 bytes per entry, found by the key itself.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "core/record_table.h"

namespace registryd {

struct LeaseKey {
  using Key = LeaseId;
  using Hash = absl::Hash<LeaseId>;
  static LeaseId Of(const InstanceRecord& record) { return record.lease; }
};

struct InstanceIdKey {
  using Key = std::string_view;
  using Hash = std::hash<std::string_view>;
  static std::string_view Of(const InstanceRecord& record) { return record.instance_id(); }
};

// The key of either a key or an index, through the table.
template <typename Field>
struct RecordKeyOf {
  typename Field::Key operator()(typename Field::Key key) const { return key; }
  typename Field::Key operator()(RecordIndex index) const { return Field::Of((*records)[index]); }
  const RecordTable* records;
};

template <typename Field>
struct RecordKeyHash {
  using is_transparent = void;
  template <typename T>
  size_t operator()(const T& key_or_index) const { return typename Field::Hash{}(key_of(key_or_index)); }
  RecordKeyOf<Field> key_of;
};

template <typename Field>
struct RecordKeyEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const { return key_of(a) == key_of(b); }
  RecordKeyOf<Field> key_of;
};

template <typename Field>
using RecordSet = absl::flat_hash_set<RecordIndex, RecordKeyHash<Field>, RecordKeyEq<Field>>;

// An empty set over `records`' indexes; the table must outlive it.
template <typename Field>
RecordSet<Field> MakeRecordSet(const RecordTable& records) {
  return RecordSet<Field>(0, RecordKeyHash<Field>{{&records}}, RecordKeyEq<Field>{{&records}});
}

}  // namespace registryd
