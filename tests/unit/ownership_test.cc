// The registry's side of authorization: what a policy's callers may change,
// checked where the change finds its instance, with real policies and
// callers (auth/caller.h) on a registry with a manual clock.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "auth/caller.h"
#include "auth/policy.h"
#include "test_specs.h"

namespace registryd {
namespace {

using test::NativeSpec;
using test::SeedSpec;

constexpr char kPolicy[] = R"(
rule { identity: "orders" service: "orders" service: "shared" permission: REGISTER }
rule { identity: "payments" service: "payments" service: "shared" permission: REGISTER }
rule { identity: "ops" service: "shared" permission: ADMIN }
rule { anonymous: true service: "open" permission: REGISTER }
)";

class OwnershipTest : public test::RegistryFixture {
 protected:
  OwnershipTest() : RegistryFixture(Options()) {
    policy_ = *auth::Policy::Parse(kPolicy, "policy.txt");
  }

  static RegistryOptions Options() {
    RegistryOptions options;
    options.shard_count = 4;
    options.max_instances = 3;
    return options;
  }

  std::shared_ptr<const auth::Caller> As(const std::string& identity) const {
    return std::make_shared<const auth::Caller>(identity, policy_->GrantsFor(identity));
  }

  // A registration as `caller` makes it: the owner is its identity.
  static RegisterSpec Owned(RegisterSpec spec, const auth::Caller& caller) {
    spec.owner = std::string(caller.identity());
    return spec;
  }

  std::string HostOf(std::string_view service, std::string_view instance_id) {
    std::string host;
    registry_.Discover(service, false, [&](const InstanceRecord& record) {
      if (record.instance_id() == instance_id) host = std::string(record.host()) + ":" + std::to_string(record.port);
    });
    return host;
  }

  std::shared_ptr<const auth::Policy> policy_;
};

TEST_F(OwnershipTest, AnInstanceIsRenewedChangedAndRemovedOnlyByItsOwnerOrAnAdmin) {
  const auto orders = As("orders");
  const auto payments = As("payments");
  const auto ops = As("ops");
  const absl::StatusOr<RegisterResult> registered =
      registry_.Register(Owned(NativeSpec("shared", "a", std::chrono::seconds(10), 1000), *orders), orders.get());
  ASSERT_TRUE(registered.ok()) << registered.status();
  const LeaseId lease = registered->lease;

  // Another identity with register on the service: refused, nothing changes.
  const absl::StatusOr<RegisterResult> hijack =
      registry_.Register(Owned(NativeSpec("shared", "a", std::chrono::seconds(10), 6666), *payments), payments.get());
  EXPECT_EQ(hijack.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(hijack.status().message().find("belongs to \"orders\""), absl::string_view::npos) << hijack.status();
  EXPECT_EQ(HostOf("shared", "a"), "10.0.0.1:1000");
  EXPECT_EQ(registry_.Heartbeat(lease, true, payments.get()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.Deregister(lease, payments.get()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_.live_instances(), 1u);

  // Its owner may; so may an admin of the service, whose registration takes it over.
  EXPECT_TRUE(registry_.Heartbeat(lease, false, orders.get()).ok());
  EXPECT_TRUE(registry_.Heartbeat(lease, false, ops.get()).ok());
  ASSERT_TRUE(registry_.Register(Owned(NativeSpec("shared", "a", std::chrono::seconds(10), 2000), *ops), ops.get()).ok());
  EXPECT_EQ(HostOf("shared", "a"), "10.0.0.1:2000");
  EXPECT_EQ(registry_.Heartbeat(lease, false, orders.get()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(registry_.Deregister(lease, ops.get()).ok());
  EXPECT_EQ(registry_.live_instances(), 0u);
}

TEST_F(OwnershipTest, WithoutThePermissionNothingIsCreatedAndNoRoomIsTaken) {
  const auto orders = As("orders");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(registry_.Register(Owned(NativeSpec("payments", "p" + std::to_string(i), std::chrono::seconds(10)), *orders),
                                 orders.get())
                  .status()
                  .code(),
              absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(registry_.live_instances(), 0u);
  // The room the refusals did not take is there (max_instances is 3).
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(registry_.Register(Owned(NativeSpec("orders", "o" + std::to_string(i), std::chrono::seconds(10)), *orders),
                                   orders.get())
                    .ok());
  }
}

TEST_F(OwnershipTest, ASeedMoveNeedsTheCallerOnBothServices) {
  const auto orders = As("orders");
  const auto payments = As("payments");
  ASSERT_TRUE(registry_.SeedRegister(Owned(SeedSpec(42, "orders"), *orders), orders.get()).ok());
  // Into a service it may not register in: refused, and 42 stays where it was.
  EXPECT_EQ(registry_.SeedRegister(Owned(SeedSpec(42, "payments"), *orders), orders.get()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(test::DiscoveredIds(registry_, "orders"), std::vector<std::string>{"42"});
  // Out of a service the caller may not change: refused the same way.
  EXPECT_EQ(registry_.SeedRegister(Owned(SeedSpec(42, "payments"), *payments), payments.get()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(test::DiscoveredIds(registry_, "orders"), std::vector<std::string>{"42"});
  EXPECT_TRUE(test::DiscoveredIds(registry_, "payments").empty());
  EXPECT_EQ(registry_.SeedHeartbeat(42, false, payments.get()).status().code(), absl::StatusCode::kPermissionDenied);
  // Within its own services the owner moves it.
  ASSERT_TRUE(registry_.SeedRegister(Owned(SeedSpec(42, "shared"), *orders), orders.get()).ok());
  EXPECT_TRUE(test::DiscoveredIds(registry_, "orders").empty());
  EXPECT_EQ(test::DiscoveredIds(registry_, "shared"), std::vector<std::string>{"42"});
  EXPECT_EQ(registry_.live_instances(), 1u);
}

TEST_F(OwnershipTest, EjectingNeedsAdmin) {
  const auto orders = As("orders");
  ASSERT_TRUE(registry_.SeedRegister(Owned(SeedSpec(7, "shared"), *orders), orders.get()).ok());
  EXPECT_EQ(registry_.WarnServerError(7, orders.get()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(test::DiscoveredIds(registry_, "shared"), std::vector<std::string>{"7"});
  const absl::StatusOr<WarnResult> ejected = registry_.WarnServerError(7, As("ops").get());
  ASSERT_TRUE(ejected.ok());
  EXPECT_TRUE(ejected->known);
  EXPECT_EQ(ejected->service, "shared");  // for the audit log
  EXPECT_TRUE(test::DiscoveredIds(registry_, "shared").empty());
}

TEST_F(OwnershipTest, AnInstanceWithoutAnOwnerIsAnyonesWithRegister) {
  const auto anonymous = As("");
  const absl::StatusOr<RegisterResult> registered =
      registry_.Register(NativeSpec("open", "x", std::chrono::seconds(10)), anonymous.get());
  ASSERT_TRUE(registered.ok());
  // Anonymous rules apply to every caller: orders may register in "open" too,
  // and an instance without an owner becomes the registrant's.
  const auto orders = As("orders");
  EXPECT_TRUE(registry_.Heartbeat(registered->lease, false, orders.get()).ok());
  ASSERT_TRUE(registry_.Register(Owned(NativeSpec("open", "x", std::chrono::seconds(10)), *orders), orders.get()).ok());
  const absl::Status taken = registry_.Heartbeat(registered->lease, false, anonymous.get()).status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnauthenticated) << taken;
}

TEST_F(OwnershipTest, NoAccessMeansNoPolicy) {
  const LeaseId lease = Register(Owned(NativeSpec("payments", "p", std::chrono::seconds(10)), *As("orders")));
  EXPECT_TRUE(registry_.Heartbeat(lease, false).ok());
  EXPECT_TRUE(registry_.Deregister(lease).ok());
}

}  // namespace
}  // namespace registryd
