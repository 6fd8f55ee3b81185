// The nodes of the cluster as this node knows them from etcd (their keys
// under <prefix>nodes/), each with a slot: the compact holder id the
// registry's records carry (core/replica.h). Slot kHeldHere is this node.
//
// Thread-safe: the follower updates it; the writer, the forwarder and the
// takeover read it.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/replica.h"

namespace registryd::cluster {

class NodeTable {
 public:
  // `slots_in_use` lists the slots some record still holds (a scan of the
  // registry): asked only when every slot is taken, to reuse those of nodes
  // that left and hold nothing any more.
  NodeTable(std::string self, std::function<std::vector<bool>()> slots_in_use);

  const std::string& self() const { return self_; }
  // The slot of a node name, given one if it has none.
  NodeSlot SlotOf(std::string_view name);
  std::string NameOf(NodeSlot slot) const;

  // A node's key appeared or changed; disappeared.
  void SetLive(std::string_view name, std::string address);
  void SetGone(std::string_view name);
  bool IsLive(NodeSlot slot) const;
  // Where a live node is reached; nothing for this node or a gone one.
  std::optional<std::string> AddressOf(NodeSlot slot) const;
  // The other live nodes' addresses.
  std::vector<std::string> PeerAddresses() const;

  // Which live node (this one included) takes over an instance whose holder
  // is gone: the highest hash of (instance key, node name), so that every
  // node picks the same one without asking the others.
  std::string AdopterOf(std::string_view instance_key) const;

 private:
  struct Node {
    std::string name;
    std::string address;
    bool live = false;
  };
  NodeSlot SlotOfLocked(std::string_view name);

  const std::string self_;
  const std::function<std::vector<bool>()> slots_in_use_;
  mutable std::mutex mu_;
  std::vector<Node> nodes_;  // by slot; [kHeldHere] is this node
  absl::flat_hash_map<std::string, NodeSlot> slots_;
};

}  // namespace registryd::cluster
