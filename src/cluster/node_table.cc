#include "cluster/node_table.h"

#include <functional>
#include <limits>

#include "core/log.h"

namespace registryd::cluster {

NodeTable::NodeTable(std::string self, std::function<std::vector<bool>()> slots_in_use)
    : self_(std::move(self)), slots_in_use_(std::move(slots_in_use)) {
  nodes_.push_back(Node{self_, "", true});
  slots_.emplace(self_, kHeldHere);
}

NodeSlot NodeTable::SlotOf(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return SlotOfLocked(name);
}

NodeSlot NodeTable::SlotOfLocked(std::string_view name) {
  if (const auto it = slots_.find(std::string(name)); it != slots_.end()) return it->second;
  constexpr size_t kSlots = size_t{std::numeric_limits<NodeSlot>::max()} + 1;
  if (nodes_.size() < kSlots) {
    nodes_.push_back(Node{std::string(name), "", false});
    const auto slot = static_cast<NodeSlot>(nodes_.size() - 1);
    slots_.emplace(std::string(name), slot);
    return slot;
  }
  // Every slot was given out: take one of a node that left and holds nothing.
  const std::vector<bool> in_use = slots_in_use_();
  for (size_t slot = 1; slot < nodes_.size(); ++slot) {
    if (nodes_[slot].live || (slot < in_use.size() && in_use[slot])) continue;
    slots_.erase(nodes_[slot].name);
    nodes_[slot] = Node{std::string(name), "", false};
    slots_.emplace(std::string(name), static_cast<NodeSlot>(slot));
    return static_cast<NodeSlot>(slot);
  }
  // More than 255 other nodes hold leases at once: the last slot stands for
  // all the rest (their leases are renewed by forwarding to that one).
  log::Error("cluster: more than {} nodes hold leases; node {} shares a slot", kSlots - 1, name);
  return static_cast<NodeSlot>(kSlots - 1);
}

std::string NodeTable::NameOf(NodeSlot slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot < nodes_.size() ? nodes_[slot].name : std::string();
}

void NodeTable::SetLive(std::string_view name, std::string address) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[SlotOfLocked(name)];
  node.live = true;
  node.address = std::move(address);
}

void NodeTable::SetGone(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (name == self_) return;  // this node is live while it runs; its key comes back
  if (const auto it = slots_.find(std::string(name)); it != slots_.end()) nodes_[it->second].live = false;
}

bool NodeTable::IsLive(NodeSlot slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot < nodes_.size() && nodes_[slot].live;
}

std::optional<std::string> NodeTable::AddressOf(NodeSlot slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot == kHeldHere || slot >= nodes_.size() || !nodes_[slot].live) return std::nullopt;
  return nodes_[slot].address;
}

std::vector<std::string> NodeTable::PeerAddresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> addresses;
  for (size_t slot = 1; slot < nodes_.size(); ++slot) {
    if (nodes_[slot].live) addresses.push_back(nodes_[slot].address);
  }
  return addresses;
}

std::string NodeTable::AdopterOf(std::string_view instance_key) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Node* best = nullptr;
  size_t best_hash = 0;
  for (const Node& node : nodes_) {
    if (!node.live) continue;
    // The same in every process (absl::Hash is seeded per process; libstdc++'s std::hash is not).
    const size_t hash = std::hash<std::string>{}(std::string(instance_key) + '\0' + node.name);
    if (best == nullptr || hash > best_hash || (hash == best_hash && node.name < best->name)) {
      best = &node;
      best_hash = hash;
    }
  }
  return best == nullptr ? self_ : best->name;
}

}  // namespace registryd::cluster
