// The cluster's pure parts: where things live in etcd, an instance's value,
// and the node table's slots and takeover choice.
#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cluster/etcd_keys.h"
#include "cluster/node_table.h"
#include "cluster/stored_instance.h"

namespace registryd::cluster {
namespace {

TEST(EtcdKeysTest, EveryInstanceKeyParsesBackToItself) {
  const EtcdKeys keys("/registryd/");
  const std::vector<InstanceKey> instances = {
      {"orders", "o-1", std::nullopt},
      {"a/b", "c", std::nullopt},         // a '/' in the service
      {"a", "b/c", std::nullopt},         // and in the instance id: not the same key
      {"100%", "x%2F", std::nullopt},     // escapes in both
      {"", "42", 42},
      {"", "-7", -7},
  };
  std::set<std::string> seen;
  for (const InstanceKey& instance : instances) {
    const std::string key = keys.Instance(instance);
    EXPECT_TRUE(seen.insert(key).second) << key;
    const EtcdKeys::Parsed parsed = keys.Parse(key);
    const auto* back = std::get_if<InstanceKey>(&parsed);
    ASSERT_NE(back, nullptr) << key;
    EXPECT_EQ(back->service, instance.service);
    EXPECT_EQ(back->instance_id, instance.instance_id);
    EXPECT_EQ(back->seed_id, instance.seed_id);
  }
}

TEST(EtcdKeysTest, TheLayoutIsTheSameOnEveryNode) {
  // Nodes of different builds share one etcd: the bucket is a fixed hash.
  const EtcdKeys keys("/r/");
  EXPECT_EQ(keys.Instance({"orders", "o-1", std::nullopt}), "/r/instances/c4/orders/o-1");
  EXPECT_EQ(keys.Instance({"", "42", 42}), "/r/seeds/83/42");
}

TEST(EtcdKeysTest, TheLoadRangesHoldEveryInstanceAndNodeOnceAndAreSmall) {
  const EtcdKeys keys("/registryd/");
  const std::vector<EtcdKeys::Range> ranges = keys.LoadRanges();
  const auto holders = [&](const std::string& key) {
    int count = 0;
    for (const EtcdKeys::Range& range : ranges) count += key >= range.key && key < range.end;
    return count;
  };
  std::vector<int> per_range(ranges.size());
  constexpr int kInstances = 25'600;
  for (int i = 0; i < kInstances; ++i) {
    // One service: its instances still spread over every bucket.
    const std::string key = keys.Instance({"orders", "instance-" + std::to_string(i), std::nullopt});
    ASSERT_EQ(holders(key), 1) << key;
    for (size_t r = 0; r < ranges.size(); ++r) per_range[r] += key >= ranges[r].key && key < ranges[r].end;
  }
  EXPECT_EQ(holders(keys.Instance({"", "42", 42})), 1);
  EXPECT_EQ(holders(keys.Node("10.0.0.1:50051")), 1);
  EXPECT_EQ(holders(keys.Beacon("10.0.0.1:50051")), 0);
  EXPECT_EQ(holders(keys.RemovalMarker()), 0);
  // 100 per instance bucket on average: none holds more than twice that.
  EXPECT_LE(*std::max_element(per_range.begin(), per_range.end()), 200);
}

TEST(EtcdKeysTest, OtherKeysAreNodesTheMarkerOrNothing) {
  const EtcdKeys keys("/r/");
  EXPECT_EQ(std::get<NodeKey>(keys.Parse(keys.Node("10.0.0.1:50051"))).name, "10.0.0.1:50051");
  EXPECT_TRUE(std::holds_alternative<RemovalMarkerKey>(keys.Parse(keys.RemovalMarker())));
  for (const std::string& key :
       {std::string("/other/instances/00/a/b"), std::string("/r/instances/00/noslash"),
        std::string("/r/instances/00/a%ZZ/b"), std::string("/r/instances/orders/o-1"), std::string("/r/seeds/00/042"),
        std::string("/r/seeds/00/x"), std::string("/r/seeds/42"), keys.Beacon("n")}) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(keys.Parse(key))) << key;
  }
  EXPECT_EQ(keys.PrefixEnd(), "/r0");
  EXPECT_EQ(EtcdKeys("a\xff").PrefixEnd(), "b");
}

TEST(StoredInstanceTest, AnInstanceComesBackAsItWasStored) {
  ReplicatedInstance state;
  state.spec.service = "orders";
  state.spec.instance_id = "7";
  state.spec.host = "10.0.0.7";
  state.spec.port = 8080;
  state.spec.metadata = {{"a", "1"}, {"zone", "z1"}};
  state.spec.ttl = std::chrono::milliseconds(2500);
  state.spec.overloaded = true;
  state.spec.seed_id = 7;
  state.spec.owner = "spiffe://prod/ns/shop/sa/orders";
  state.lease = 0x1234'5678'9abc'def0;
  state.ejected = true;
  const std::optional<DecodedInstance> decoded = DecodeInstance(EncodeInstance(state, "node-b"));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->holder, "node-b");
  const ReplicatedInstance& back = decoded->state;
  EXPECT_EQ(back.spec.service, "orders");
  EXPECT_EQ(back.spec.instance_id, "7");
  EXPECT_EQ(back.spec.host, "10.0.0.7");
  EXPECT_EQ(back.spec.port, 8080);
  EXPECT_EQ(back.spec.metadata, state.spec.metadata);
  EXPECT_EQ(back.spec.ttl, state.spec.ttl);
  EXPECT_TRUE(back.spec.overloaded);
  EXPECT_EQ(back.spec.seed_id, 7);
  EXPECT_EQ(back.spec.owner, "spiffe://prod/ns/shop/sa/orders");  // every node checks the same owner
  EXPECT_EQ(back.lease, state.lease);
  EXPECT_TRUE(back.ejected);
}

TEST(StoredInstanceTest, AValueThatIsNoInstanceIsRefused) {
  EXPECT_FALSE(DecodeInstance("not a protobuf \xff\xff"));
  ReplicatedInstance state;  // no service, no lease
  EXPECT_FALSE(DecodeInstance(EncodeInstance(state, "node")));
  // An owner longer than an identity may be (a hand-edited store) is refused, not stored.
  state.spec.service = "orders";
  state.spec.instance_id = "a";
  state.spec.ttl = std::chrono::seconds(1);
  state.lease = 1;
  EXPECT_TRUE(DecodeInstance(EncodeInstance(state, "node")));
  state.spec.owner = std::string(256, 'o');
  EXPECT_FALSE(DecodeInstance(EncodeInstance(state, "node")));
}

TEST(NodeTableTest, NamesKeepTheirSlotsAndThisNodeIsHeldHere) {
  NodeTable nodes("self", [] { return std::vector<bool>(256, true); });
  EXPECT_EQ(nodes.SlotOf("self"), kHeldHere);
  const NodeSlot b = nodes.SlotOf("b");
  EXPECT_NE(b, kHeldHere);
  EXPECT_EQ(nodes.SlotOf("b"), b);
  EXPECT_EQ(nodes.NameOf(b), "b");
  EXPECT_FALSE(nodes.AddressOf(b));  // not live yet
  nodes.SetLive("b", "127.0.0.1:2");
  EXPECT_EQ(nodes.AddressOf(b), "127.0.0.1:2");
  nodes.SetGone("b");
  EXPECT_FALSE(nodes.IsLive(b));
  nodes.SetGone("self");  // this node stays live while it runs
  EXPECT_TRUE(nodes.IsLive(kHeldHere));
}

TEST(NodeTableTest, SlotsOfNodesThatLeftAndHoldNothingAreReused) {
  std::vector<bool> in_use(256, false);
  NodeTable nodes("self", [&] { return in_use; });
  for (int i = 1; i < 256; ++i) nodes.SlotOf("n" + std::to_string(i));  // every slot given out
  in_use[5] = true;                                                   // n5 still holds leases
  const NodeSlot reused = nodes.SlotOf("newcomer");
  EXPECT_NE(reused, 5);
  EXPECT_EQ(nodes.NameOf(reused), "newcomer");
  EXPECT_EQ(nodes.NameOf(5), "n5");
}

// Nodes decide who takes an orphan over without asking each other: every
// table with the same live nodes picks the same one, and the picks spread.
TEST(NodeTableTest, EveryNodePicksTheSameAdopterAndThePicksSpread) {
  NodeTable a("a", [] { return std::vector<bool>(256, true); });
  NodeTable b("b", [] { return std::vector<bool>(256, true); });
  for (NodeTable* table : {&a, &b}) {
    table->SetLive("a", "x");
    table->SetLive("b", "y");
    table->SetLive("c", "z");
  }
  std::set<std::string> adopters;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "/registryd/instances/s/" + std::to_string(i);
    EXPECT_EQ(a.AdopterOf(key), b.AdopterOf(key));
    adopters.insert(a.AdopterOf(key));
  }
  EXPECT_EQ(adopters, (std::set<std::string>{"a", "b", "c"}));
  a.SetGone("c");
  for (int i = 0; i < 100; ++i) EXPECT_NE(a.AdopterOf("/registryd/instances/s/" + std::to_string(i)), "c");
}

}  // namespace
}  // namespace registryd::cluster
