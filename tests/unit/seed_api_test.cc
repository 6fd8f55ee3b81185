// The seed API's semantics (SEED_CONTRACT.md) at the core level: upsert by
// serverId across services, heartbeat by serverId, findServer and
// warnServerError.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/registry.h"
#include "test_specs.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using test::DiscoveredIds;
using test::ExpireDue;
using test::kSeedTtl;
using test::SeedSpec;
using Ids = std::vector<std::string>;

RegistryOptions SeedOptions() {
  RegistryOptions options;
  options.default_ttl = kSeedTtl;
  options.tick = milliseconds(100);
  options.wheel_slots = 256;
  options.shard_count = 4;
  return options;
}

class SeedApiTest : public test::RegistryFixture {
 protected:
  explicit SeedApiTest(const RegistryOptions& options = SeedOptions()) : RegistryFixture(options) {}

  RegisterResult SeedRegister(const RegisterSpec& spec) {
    const absl::StatusOr<RegisterResult> result = registry_.SeedRegister(spec);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : RegisterResult{};
  }

  // The server ids of `count` consecutive findServer answers (-1: none).
  std::vector<int32_t> Picks(std::string_view service, int count) {
    std::vector<int32_t> picks;
    for (int i = 0; i < count; ++i) {
      const std::optional<Endpoint> endpoint = registry_.FindServer(service);
      picks.push_back(endpoint ? endpoint->server_id : -1);
    }
    return picks;
  }
};

std::map<int32_t, int> Tally(const std::vector<int32_t>& picks) {
  std::map<int32_t, int> tally;
  for (int32_t pick : picks) ++tally[pick];
  return tally;
}

TEST_F(SeedApiTest, RegisteredServerIsFoundWithItsAddress) {
  const RegisterResult result = SeedRegister(SeedSpec(7, "books", false, 5007));
  EXPECT_TRUE(result.created);
  EXPECT_EQ(result.ttl, kSeedTtl);
  const std::optional<Endpoint> found = registry_.FindServer("books");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->server_id, 7);
  EXPECT_EQ(found->host, "10.0.1.7");
  EXPECT_EQ(found->port, 5007);
}

TEST_F(SeedApiTest, RegisteringTheSameIdAgainUpdatesInPlace) {
  const RegisterResult first = SeedRegister(SeedSpec(7, "books", false, 5007));
  const RegisterResult second = SeedRegister(SeedSpec(7, "books", false, 6007));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.lease, first.lease);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"7"});
  EXPECT_EQ(registry_.FindServer("books")->port, 6007);
  EXPECT_EQ(registry_.Totals().live, 1u);
}

TEST_F(SeedApiTest, RegisteringTheSameIdUnderAnotherServiceMovesIt) {
  SeedRegister(SeedSpec(7, "books"));
  SeedRegister(SeedSpec(7, "orders", false, 5100));

  EXPECT_FALSE(registry_.FindServer("books").has_value());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{});
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"7"});
  EXPECT_EQ(registry_.FindServer("orders")->port, 5100);
  ASSERT_EQ(registry_.ListServices().size(), 1u);
  EXPECT_EQ(registry_.ListServices()[0].name, "orders");
  EXPECT_EQ(registry_.Totals().live, 1u);

  // The id now names the moved server: its heartbeat keeps "orders" alive.
  clock_.Advance(seconds(50));
  ASSERT_TRUE(registry_.SeedHeartbeat(7, false).ok());
  clock_.Advance(seconds(50));
  ExpireDue(registry_);
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"7"});
}

TEST_F(SeedApiTest, HeartbeatOfAnUnknownIdIsNotFoundAndSaysRegisterAgain) {
  const absl::StatusOr<Duration> result = registry_.SeedHeartbeat(99, false);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(result.status().message()).find("register again"), std::string::npos)
      << result.status();
}

TEST_F(SeedApiTest, HeartbeatAtTheDeadlineIsNotFoundEvenBeforeTheWheelReapsIt) {
  SeedRegister(SeedSpec(7, "books"));
  clock_.Advance(kSeedTtl);
  EXPECT_EQ(registry_.SeedHeartbeat(7, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.SeedHeartbeat(7, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ExpireDue(registry_).empty()) << "the heartbeat already removed it";
}

TEST_F(SeedApiTest, HeartbeatAfterExpiryIsNotFoundAndRegisteringAgainWorks) {
  SeedRegister(SeedSpec(7, "books"));
  clock_.Advance(kSeedTtl);
  ASSERT_EQ(ExpireDue(registry_).size(), 1u);
  EXPECT_EQ(registry_.SeedHeartbeat(7, false).status().code(), absl::StatusCode::kNotFound);

  EXPECT_TRUE(SeedRegister(SeedSpec(7, "books")).created);
  EXPECT_TRUE(registry_.SeedHeartbeat(7, false).ok());
}

TEST_F(SeedApiTest, HeartbeatRenewsTheLease) {
  SeedRegister(SeedSpec(7, "books"));
  clock_.Advance(seconds(50));
  const absl::StatusOr<Duration> ttl = registry_.SeedHeartbeat(7, false);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, kSeedTtl);

  clock_.Advance(seconds(60) - nanoseconds(1));
  EXPECT_TRUE(ExpireDue(registry_).empty());
  EXPECT_TRUE(registry_.FindServer("books").has_value());
  clock_.Advance(nanoseconds(1));
  EXPECT_EQ(ExpireDue(registry_).size(), 1u);
  EXPECT_FALSE(registry_.FindServer("books").has_value());
}

TEST_F(SeedApiTest, FindServerRoundRobinsOverServersThatAreNotOverloaded) {
  for (int32_t id : {1, 2, 3}) SeedRegister(SeedSpec(id, "books"));
  SeedRegister(SeedSpec(4, "books", /*overloaded=*/true));

  const std::vector<int32_t> picks = Picks("books", 9);
  EXPECT_EQ(Tally(picks), (std::map<int32_t, int>{{1, 3}, {2, 3}, {3, 3}}));
  for (size_t i = 0; i + 3 <= picks.size(); ++i) {
    EXPECT_EQ(std::set<int32_t>(picks.begin() + i, picks.begin() + i + 3).size(), 3u)
        << "picks " << i << ".." << i + 2 << " repeat a server";
  }
}

TEST_F(SeedApiTest, FindServerFallsBackToOverloadedServersInTurn) {
  SeedRegister(SeedSpec(1, "books", /*overloaded=*/true));
  SeedRegister(SeedSpec(2, "books", /*overloaded=*/true));
  EXPECT_EQ(Tally(Picks("books", 4)), (std::map<int32_t, int>{{1, 2}, {2, 2}}));

  // A heartbeat that clears the flag makes that server the only choice.
  ASSERT_TRUE(registry_.SeedHeartbeat(2, false).ok());
  EXPECT_EQ(Picks("books", 3), (std::vector<int32_t>{2, 2, 2}));
}

TEST_F(SeedApiTest, FindServerFindsNothingWhenNoServerIsAlive) {
  EXPECT_FALSE(registry_.FindServer("books").has_value());
  SeedRegister(SeedSpec(1, "books"));
  clock_.Advance(kSeedTtl);
  EXPECT_FALSE(registry_.FindServer("books").has_value()) << "past its deadline, even if not reaped yet";
  ExpireDue(registry_);
  EXPECT_FALSE(registry_.FindServer("books").has_value());
}

TEST_F(SeedApiTest, WarnedServerLeavesTheRotationUntilItsNextHeartbeat) {
  for (int32_t id : {1, 2, 3}) SeedRegister(SeedSpec(id, "books"));

  const WarnResult warned = *registry_.WarnServerError(2);
  EXPECT_TRUE(warned.known);
  ASSERT_TRUE(warned.replacement.has_value());
  EXPECT_NE(warned.replacement->server_id, 2);

  EXPECT_EQ(Tally(Picks("books", 6)), (std::map<int32_t, int>{{1, 3}, {3, 3}}));
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"1", "3"}));
  // Operators still see it, marked ejected.
  std::map<std::string, bool> members;
  const auto visit = [&](const InstanceRecord& record) { members[std::string(record.instance_id())] = record.ejected; };
  EXPECT_EQ(registry_.Members("books", 0, 2, visit).total, 3u);  // a page of 2
  EXPECT_EQ(members.size(), 2u);
  EXPECT_EQ(registry_.Members("books", 2, 2, visit).total, 3u);  // and the rest
  EXPECT_EQ(members, (std::map<std::string, bool>{{"1", false}, {"2", true}, {"3", false}}));
  EXPECT_EQ(registry_.Members("nobody", 0, 10, visit).total, 0u);

  ASSERT_TRUE(registry_.SeedHeartbeat(2, false).ok());
  EXPECT_EQ(Tally(Picks("books", 6)), (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
}

TEST_F(SeedApiTest, WarningTheOnlyServerLeavesNoReplacement) {
  SeedRegister(SeedSpec(1, "books"));
  const WarnResult warned = *registry_.WarnServerError(1);
  EXPECT_TRUE(warned.known);
  EXPECT_FALSE(warned.replacement.has_value());
  EXPECT_FALSE(registry_.FindServer("books").has_value());
}

TEST_F(SeedApiTest, WarnPrefersAReplacementThatIsNotOverloaded) {
  SeedRegister(SeedSpec(1, "books"));
  SeedRegister(SeedSpec(2, "books", /*overloaded=*/true));
  SeedRegister(SeedSpec(3, "books"));
  const WarnResult warned = *registry_.WarnServerError(1);
  ASSERT_TRUE(warned.replacement.has_value());
  EXPECT_EQ(warned.replacement->server_id, 3);
}

TEST_F(SeedApiTest, WarnOfAnUnknownOrExpiredIdChangesNothing) {
  SeedRegister(SeedSpec(1, "books"));
  const WarnResult unknown = *registry_.WarnServerError(42);
  EXPECT_FALSE(unknown.known);
  EXPECT_FALSE(unknown.replacement.has_value());
  EXPECT_EQ(Picks("books", 2), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(registry_.Totals().ejected, 0u);

  SeedRegister(SeedSpec(2, "orders"));
  clock_.Advance(kSeedTtl);
  EXPECT_FALSE(registry_.WarnServerError(2)->known);
}

TEST_F(SeedApiTest, SeedServerIsVisibleThroughNativeDiscover) {
  SeedRegister(SeedSpec(7, "books", /*overloaded=*/true, 5007));
  std::vector<const InstanceRecord*> records;
  registry_.Discover("books", false, [&](const InstanceRecord& record) {
    EXPECT_EQ(record.instance_id(), "7");
    EXPECT_EQ(record.Address(), "10.0.1.7:5007");
    EXPECT_TRUE(record.overloaded);
    EXPECT_EQ(record.seed_id(), 7);
    records.push_back(&record);
  });
  EXPECT_EQ(records.size(), 1u);
  ASSERT_EQ(registry_.ListServices().size(), 1u);
  EXPECT_EQ(registry_.ListServices()[0].instances, 1u);
}

TEST_F(SeedApiTest, NativeInstanceIsFoundByFindServer) {
  RegisterSpec native = test::NativeSpec("books", "42", seconds(30), 9042);
  native.host = "2001:db8::42";
  ASSERT_TRUE(registry_.Register(native).ok());
  const std::optional<Endpoint> found = registry_.FindServer("books");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->server_id, 42);
  EXPECT_EQ(found->host, "2001:db8::42");
  EXPECT_EQ(found->port, 9042);
}

TEST_F(SeedApiTest, NativeInstanceWithoutASeedIdIsNotOfferedToSeedClients) {
  ASSERT_TRUE(registry_.Register(test::NativeSpec("books", "books-a", seconds(30))).ok());
  ASSERT_TRUE(registry_.Register(test::NativeSpec("books", "042", seconds(30))).ok());  // not canonical
  EXPECT_FALSE(registry_.FindServer("books").has_value());
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"042", "books-a"}));
}

TEST_F(SeedApiTest, NativeNumericIdIsOneServerWithTheSeedIdOfTheSameNumber) {
  SeedRegister(SeedSpec(7, "orders"));
  SeedRegister(SeedSpec(8, "orders"));
  // Native "7" in another service: the same server id, so it moves there.
  ASSERT_TRUE(registry_.Register(test::NativeSpec("books", "7", seconds(30), 2000)).ok());
  EXPECT_EQ(Picks("orders", 2), (std::vector<int32_t>{8, 8}));
  ASSERT_EQ(registry_.FindServer("books")->port, 2000);

  // warnServerError names it, and ejects it rather than anything else.
  const WarnResult warned = *registry_.WarnServerError(7);
  EXPECT_TRUE(warned.known);
  EXPECT_FALSE(warned.replacement.has_value());  // nothing else in "books"
  EXPECT_FALSE(registry_.FindServer("books").has_value());
  EXPECT_EQ(Picks("orders", 2), (std::vector<int32_t>{8, 8}));
}

class SeedCapacityTest : public SeedApiTest {
 protected:
  static RegistryOptions Options() {
    RegistryOptions options = SeedOptions();
    options.max_instances = 2;
    return options;
  }
  SeedCapacityTest() : SeedApiTest(Options()) {}
};

TEST_F(SeedCapacityTest, NewIdIsRefusedWhenFullAndNothingChanges) {
  SeedRegister(SeedSpec(1, "books"));
  SeedRegister(SeedSpec(2, "books"));
  EXPECT_EQ(registry_.SeedRegister(SeedSpec(3, "books")).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(registry_.SeedHeartbeat(3, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), (Ids{"1", "2"}));
}

TEST_F(SeedCapacityTest, KnownIdIsUpdatedOrMovedWhenFull) {
  SeedRegister(SeedSpec(1, "books"));
  SeedRegister(SeedSpec(2, "books"));
  EXPECT_FALSE(SeedRegister(SeedSpec(1, "books", /*overloaded=*/true)).created);

  // A move keeps the count: the server leaves one service for another.
  EXPECT_TRUE(SeedRegister(SeedSpec(1, "orders")).created);
  EXPECT_EQ(DiscoveredIds(registry_, "books"), Ids{"2"});
  EXPECT_EQ(DiscoveredIds(registry_, "orders"), Ids{"1"});
  EXPECT_EQ(registry_.SeedRegister(SeedSpec(3, "books")).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace registryd
