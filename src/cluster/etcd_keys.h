// Where cluster mode keeps things in etcd, under one prefix (--etcd-prefix):
//
//   <prefix>instances/<bucket>/<service>/<instance id>  an instance (StoredInstance)
//   <prefix>seeds/<bucket>/<serverId>                   an instance with a seed id, any service
//   <prefix>sessions/<bucket>/<id, 16 hex digits>  a session (StoredSession)
//   <prefix>nodes/<node name>                  a live node (StoredNode), under its etcd lease
//   <prefix>removal-reason                     why a Txn's deletions happened (RemovalMarker)
//   <prefix>beacons/<node name>                a node's own write, to time its watch (under its etcd lease)
//
// A seed id is one key whatever its service, so that one serverId is one
// server across the cluster (a registration under another service moves it
// in one write). In a service name '%' and '/' are escaped (%25, %2F), so
// the first '/' after it ends it.
//
// The bucket (two hex digits of a hash of the rest of the key) is there for
// loading: etcd 3.4 visits every key of a Range's whole range for each page
// (mvcc treeIndex.Revisions ignores the limit), so paging through one range
// of a million keys costs a million visits per page. A node loads bucket by
// bucket instead, each a few thousand keys at a million.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/replica.h"
#include "core/session_table.h"

namespace registryd::cluster {

struct NodeKey {
  std::string name;
};
struct RemovalMarkerKey {};
struct SessionKey {
  SessionId id;
};

class EtcdKeys {
 public:
  explicit EtcdKeys(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string Instance(const InstanceKey& key) const;
  std::string Node(std::string_view name) const;
  std::string Session(SessionId id) const;
  std::string RemovalMarker() const { return prefix_ + "removal-reason"; }
  std::string Beacon(std::string_view node) const { return prefix_ + "beacons/" + std::string(node); }
  const std::string& prefix() const { return prefix_; }
  // The end of the range of every key under the prefix (etcd's range_end).
  std::string PrefixEnd() const;

  // [key, range_end) of what a node loads at start, each kind whole, in
  // their order: nodes, then sessions (before the instances that name
  // them), instances and seeds.
  struct Range {
    std::string key;
    std::string end;
  };
  std::vector<Range> KindRanges() const;
  // A kind's range (sessions, instances or seeds) split by bucket: small
  // ranges to load a large kind with (see the bucket above).
  std::vector<Range> BucketRanges(const Range& kind) const;

  // What a key under the prefix names; nothing for a key registryd does not write.
  using Parsed = std::variant<std::monostate, InstanceKey, NodeKey, RemovalMarkerKey, SessionKey>;
  Parsed Parse(std::string_view key) const;

 private:
  const std::string prefix_;
};

// The key an instance of `spec` is stored under: its seed id's, or its (service, instance id)'s.
InstanceKey KeyOf(const RegisterSpec& spec);

}  // namespace registryd::cluster
