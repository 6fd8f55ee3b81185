// The per-queue cache of serialized xDS resources: a resource's content id
// changes exactly when its bytes do, even across the cache starting over,
// so an ADS stream is never pushed what it holds already (and never misses
// a change).
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "server/streams/xds_resource_cache.h"
#include "test_specs.h"

namespace registryd {
namespace {

using xds::ResourceType;

class XdsResourceCacheTest : public test::RegistryFixture {
 protected:
  XdsResourceCacheTest() : RegistryFixture(RegistryOptions{}), cache_(registry_) {}
  static void SetUpTestSuite() { grpc_init(); }  // slices outside a server
  static void TearDownTestSuite() { grpc_shutdown(); }

  uint64_t IdOf(const std::string& service) { return cache_.Get(ResourceType::kClusterLoadAssignment, service).content_id; }
  // A service other than `service` in the same shard.
  std::string Neighbour(const std::string& service) {
    for (int i = 0;; ++i) {
      std::string other = "neighbour-" + std::to_string(i);
      if (registry_.ShardOfService(other) == registry_.ShardOfService(service)) return other;
    }
  }

  XdsResourceCache cache_;
};

TEST_F(XdsResourceCacheTest, AnAssignmentsIdChangesWithItsEndpointsOnly) {
  const uint64_t empty = IdOf("orders");
  EXPECT_NE(empty, 0u);
  Register(test::NativeSpec(Neighbour("orders"), "n", std::chrono::seconds(60)));  // the shard's revision moves
  EXPECT_EQ(IdOf("orders"), empty);
  const LeaseId lease = Register(test::NativeSpec("orders", "a", std::chrono::seconds(60), 1001));
  const uint64_t one = IdOf("orders");
  EXPECT_NE(one, empty);
  ASSERT_TRUE(registry_.Heartbeat(lease, false).ok());  // renewed: nothing a client sees
  EXPECT_EQ(IdOf("orders"), one);
  ASSERT_TRUE(registry_.Heartbeat(lease, true).ok());  // overloaded, alone: priority 0 still
  EXPECT_EQ(IdOf("orders"), one);
  Register(test::NativeSpec("orders", "b", std::chrono::seconds(60), 1002));
  EXPECT_NE(IdOf("orders"), one);
}

TEST_F(XdsResourceCacheTest, ResourcesInUseSurviveAFloodOfNamesAskedForOnce) {
  Register(test::NativeSpec("orders", "a", std::chrono::seconds(60), 1001));
  const XdsResourceCache::Resource before = cache_.Get(ResourceType::kClusterLoadAssignment, "orders");
  for (int turn = 0; turn < 3; ++turn) {
    for (size_t i = 0; i < XdsResourceCache::kMaxEntries; ++i) {
      IdOf("filler-" + std::to_string(turn) + "-" + std::to_string(i));
    }
    const XdsResourceCache::Resource& after = cache_.Get(ResourceType::kClusterLoadAssignment, "orders");
    EXPECT_EQ(after.content_id, before.content_id);
    EXPECT_EQ(after.entry.begin(), before.entry.begin()) << "rebuilt in turn " << turn;  // the same slice
  }
}

TEST_F(XdsResourceCacheTest, IdsSurviveAResourceDroppedAndBuiltAgain) {
  Register(test::NativeSpec("orders", "a", std::chrono::seconds(60), 1001));
  const uint64_t before = IdOf("orders");
  const uint64_t listener = cache_.Get(ResourceType::kListener, "orders").content_id;
  // Two turns without a look at "orders": it is dropped.
  for (size_t i = 0; i <= 2 * XdsResourceCache::kMaxEntries; ++i) {
    IdOf("filler-" + std::to_string(i));
    cache_.Get(ResourceType::kListener, "filler-" + std::to_string(i));
  }
  EXPECT_EQ(IdOf("orders"), before);
  EXPECT_EQ(cache_.Get(ResourceType::kListener, "orders").content_id, listener);
}

TEST_F(XdsResourceCacheTest, ANameThatIsNoServiceNameIsNoResource) {
  const XdsResourceCache::Resource& none = cache_.Get(ResourceType::kCluster, std::string("bad\x01name"));
  EXPECT_EQ(none.content_id, 0u);
  EXPECT_EQ(none.entry.size(), 0u);
  EXPECT_NE(cache_.Get(ResourceType::kCluster, "good").content_id, 0u);
}

}  // namespace
}  // namespace registryd
