// The cluster's pure parts: where things live in etcd, an instance's and a
// session's value, the node table's slots and takeover choice, and the proof
// that a key not found here is absent.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "cluster/etcd_keys.h"
#include "cluster/node_table.h"
#include "cluster/stored_instance.h"
#include "cluster/stored_session.h"
#include "cluster/view_proof.h"
#include "core/session_table.h"
#include "registryd/cluster.pb.h"

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

// Session ids spread like the random ones registryd draws: a multiplicative
// hash of 1, 2, ... (odd, so never 0).
SessionId SpreadId(int i) { return static_cast<SessionId>(i + 1) * 0x9e37'79b9'7f4a'7c15u; }

// How a node loads a large catalog: the nodes' range, then each other kind
// by bucket. (A small kind loads whole: KindRanges.)
std::vector<EtcdKeys::Range> BucketedLoad(const EtcdKeys& keys) {
  const std::vector<EtcdKeys::Range> kinds = keys.KindRanges();
  std::vector<EtcdKeys::Range> ranges{kinds[0]};
  for (size_t kind = 1; kind < kinds.size(); ++kind) {
    for (const EtcdKeys::Range& bucket : keys.BucketRanges(kinds[kind])) ranges.push_back(bucket);
  }
  return ranges;
}

TEST(EtcdKeysTest, TheKindRangesHoldEveryInstanceSessionAndNodeOnceSessionsFirst) {
  const EtcdKeys keys("/registryd/");
  const std::vector<EtcdKeys::Range> kinds = keys.KindRanges();
  const auto range_of = [&](const std::string& key) {
    std::vector<size_t> in;
    for (size_t r = 0; r < kinds.size(); ++r) {
      if (key >= kinds[r].key && key < kinds[r].end) in.push_back(r);
    }
    return in;
  };
  EXPECT_EQ(range_of(keys.Node("10.0.0.1:50051")), std::vector<size_t>{0});
  EXPECT_EQ(range_of(keys.Session(SpreadId(7))), std::vector<size_t>{1});
  EXPECT_EQ(range_of(keys.Instance({"orders", "a", std::nullopt})), std::vector<size_t>{2});
  EXPECT_EQ(range_of(keys.Instance({"", "42", 42})), std::vector<size_t>{3});
  EXPECT_TRUE(range_of(keys.Beacon("10.0.0.1:50051")).empty());
  EXPECT_TRUE(range_of(keys.RemovalMarker()).empty());
}

TEST(EtcdKeysTest, TheBucketRangesHoldEveryInstanceSessionAndNodeOnceAndAreSmall) {
  const EtcdKeys keys("/registryd/");
  const std::vector<EtcdKeys::Range> ranges = BucketedLoad(keys);
  const auto holders = [&](const std::string& key) {
    int count = 0;
    for (const EtcdKeys::Range& range : ranges) count += key >= range.key && key < range.end;
    return count;
  };
  std::vector<int> per_range(ranges.size());
  const auto count = [&](const std::string& key) {
    for (size_t r = 0; r < ranges.size(); ++r) per_range[r] += key >= ranges[r].key && key < ranges[r].end;
  };
  constexpr int kInstances = 25'600;
  for (int i = 0; i < kInstances; ++i) {
    // One service: its instances still spread over every bucket.
    const std::string key = keys.Instance({"orders", "instance-" + std::to_string(i), std::nullopt});
    ASSERT_EQ(holders(key), 1) << key;
    count(key);
  }
  constexpr int kSessions = 25'600;
  for (int i = 0; i < kSessions; ++i) {
    const std::string key = keys.Session(SpreadId(i));
    ASSERT_EQ(holders(key), 1) << key;
    count(key);
  }
  EXPECT_EQ(holders(keys.Instance({"", "42", 42})), 1);
  EXPECT_EQ(holders(keys.Node("10.0.0.1:50051")), 1);
  EXPECT_EQ(holders(keys.Beacon("10.0.0.1:50051")), 0);
  EXPECT_EQ(holders(keys.RemovalMarker()), 0);
  // 100 per instance or session bucket on average: none holds more than twice that.
  EXPECT_LE(*std::max_element(per_range.begin(), per_range.end()), 200);
}

// A node applies what it loads in the ranges' order, and an instance names
// its session, which must be there first.
TEST(EtcdKeysTest, SessionsLoadBeforeTheInstancesThatNameThem) {
  const EtcdKeys keys("/registryd/");
  const std::vector<EtcdKeys::Range> ranges = BucketedLoad(keys);
  const auto range_of = [&](const std::string& key) {
    for (size_t r = 0; r < ranges.size(); ++r) {
      if (key >= ranges[r].key && key < ranges[r].end) return r;
    }
    ADD_FAILURE() << key << " is in no range";
    return ranges.size();
  };
  size_t last_session = 0;
  std::set<size_t> session_ranges;
  for (int i = 0; i < 25'600; ++i) {
    const size_t r = range_of(keys.Session(SpreadId(i)));
    last_session = std::max(last_session, r);
    session_ranges.insert(r);
  }
  ASSERT_EQ(session_ranges.size(), 256u) << "every session bucket is seen";
  size_t first_instance = ranges.size();
  for (int i = 0; i < 25'600; ++i) {
    const size_t instance = range_of(keys.Instance({"orders", "i" + std::to_string(i), std::nullopt}));
    const size_t seed = range_of(keys.Instance({"", std::to_string(i), i}));
    first_instance = std::min({first_instance, instance, seed});
  }
  EXPECT_LT(last_session, first_instance);
}

TEST(EtcdKeysTest, EverySessionKeyParsesBackToItsId) {
  const EtcdKeys keys("/registryd/");
  std::set<std::string> seen;
  for (const SessionId id : {SessionId{1}, SessionId{0xab}, SessionId{0x5e55'0000'0000'0104}, ~SessionId{0}}) {
    const std::string key = keys.Session(id);
    EXPECT_TRUE(seen.insert(key).second) << key;
    const EtcdKeys::Parsed parsed = keys.Parse(key);
    const auto* back = std::get_if<SessionKey>(&parsed);
    ASSERT_NE(back, nullptr) << key;
    EXPECT_EQ(back->id, id);
  }
  // As for instances, nodes of different builds share one layout.
  EXPECT_EQ(EtcdKeys("/r/").Session(0xab), "/r/sessions/c2/00000000000000ab");
}

TEST(EtcdKeysTest, AMalformedSessionKeyNamesNothing) {
  const EtcdKeys keys("/r/");
  ASSERT_TRUE(std::holds_alternative<SessionKey>(keys.Parse("/r/sessions/c2/00000000000000ab")));
  for (const std::string& key : {
           std::string("/r/sessions/zz/00000000000000ab"),    // not a bucket
           std::string("/r/sessions/c/00000000000000ab"),     // nor this
           std::string("/r/sessions/00000000000000ab"),       // no bucket
           std::string("/r/sessions/c2/00000000000000ag"),    // not hex
           std::string("/r/sessions/c2/-0000000000000ab"),    // nor a sign
           std::string("/r/sessions/c2/0000000000000ab"),     // 15 digits
           std::string("/r/sessions/c2/000000000000000ab"),   // 17
           std::string("/r/sessions/c2/00000000000000ab/x"),  // more after it
           std::string("/r/sessions/c2/"),                    // no id
           std::string("/r/sessions/c2/0000000000000000"),    // id 0: no session
           std::string("/r/sessions/c2/00000000000000AB"),    // not as registryd writes it
           std::string("/other/sessions/c2/00000000000000ab"),
       }) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(keys.Parse(key))) << key;
  }
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
  state.session = 0x5e55'0000'0000'0104;
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
  EXPECT_EQ(back.session, state.session);
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

ReplicatedSession SomeSession() {
  ReplicatedSession state;
  state.id = 0x5e55'0000'0000'0104;
  state.ttl = std::chrono::milliseconds(12'500);
  state.grace = std::chrono::milliseconds(2'500);
  for (size_t i = 0; i < state.token.size(); ++i) state.token[i] = static_cast<uint8_t>(7 * i + 1);
  state.owner = "spiffe://prod/ns/shop/sa/orders";
  return state;
}

TEST(StoredSessionTest, ASessionComesBackAsItWasStored) {
  for (const bool ended : {false, true}) {
    ReplicatedSession state = SomeSession();
    state.ended = ended;
    state.end_reason = ended ? RemovalReason::kDeregistered : RemovalReason::kExpired;
    state.holder = 9;            // the value names its holder by `holder`
    state.stored_revision = 77;  // etcd's, not the value's
    const std::optional<DecodedSession> decoded = DecodeSession(EncodeSession(state, "node-b"));
    ASSERT_TRUE(decoded) << "ended " << ended;
    EXPECT_EQ(decoded->holder, "node-b");
    const ReplicatedSession& back = decoded->state;
    EXPECT_EQ(back.id, state.id);
    EXPECT_EQ(back.ttl, state.ttl);
    EXPECT_EQ(back.grace, state.grace);
    EXPECT_EQ(back.token, state.token);
    EXPECT_EQ(back.owner, state.owner);  // every node checks the same opener
    EXPECT_EQ(back.ended, ended);
    EXPECT_EQ(back.end_reason, state.end_reason);
    EXPECT_EQ(back.holder, kHeldHere) << "not set: the reader maps the name to its slot";
    EXPECT_EQ(back.stored_revision, 0u);
  }
}

TEST(StoredSessionTest, AValueThatIsNoSessionIsRefused) {
  EXPECT_FALSE(DecodeSession("not a protobuf \xff\xff"));
  const ReplicatedSession good = SomeSession();
  ASSERT_TRUE(DecodeSession(EncodeSession(good, "node")));
  const auto refused = [](const ReplicatedSession& state, std::string_view holder = "node") {
    return !DecodeSession(EncodeSession(state, holder)).has_value();
  };
  ReplicatedSession state = good;
  state.id = kNoSession;
  EXPECT_TRUE(refused(state)) << "id 0";
  state = good;
  state.ttl = Duration::zero();
  EXPECT_TRUE(refused(state)) << "no TTL";
  state = good;
  state.grace = state.ttl + std::chrono::milliseconds(1);
  EXPECT_TRUE(refused(state)) << "a grace past the TTL";
  state.grace = state.ttl;
  EXPECT_FALSE(refused(state)) << "a grace of the whole TTL";
  EXPECT_TRUE(refused(good, "")) << "no holder";
  state = good;
  state.owner = std::string(256, 'o');
  EXPECT_TRUE(refused(state)) << "an owner longer than an identity may be";

  // What EncodeSession cannot write (a hand-edited store).
  StoredSession stored;
  ASSERT_TRUE(stored.ParseFromString(EncodeSession(good, "node")));
  for (const size_t size : {size_t{0}, size_t{15}, size_t{17}, size_t{32}}) {
    StoredSession edited = stored;
    edited.set_token_digest(std::string(size, 'd'));
    EXPECT_FALSE(DecodeSession(edited.SerializeAsString())) << "a digest of " << size << " bytes";
  }
  StoredSession edited = stored;
  edited.set_end_reason(static_cast<uint32_t>(RemovalReason::kEjected) + 1);
  EXPECT_FALSE(DecodeSession(edited.SerializeAsString())) << "an unknown end reason";
}

// Every node compares digests, whichever build wrote them: SHA-256, cut to
// the token's 16 bytes.
TEST(StoredSessionTest, TheStoreKeepsADigestOfTheTokenTheSameOnEveryNode) {
  const SessionToken zeros{};
  EXPECT_EQ(TokenDigest(zeros), (SessionToken{0x37, 0x47, 0x08, 0xff, 0xf7, 0x71, 0x9d, 0xd5, 0x97, 0x9e, 0xc8, 0x75,
                                              0xd5, 0x6c, 0xd2, 0x28}));
  const SessionToken token = NewSessionToken();
  EXPECT_NE(TokenDigest(token), token) << "etcd never holds the secret";
  EXPECT_EQ(TokenDigest(token), TokenDigest(token));
  SessionToken other = token;
  other[15] ^= 1;
  EXPECT_NE(TokenDigest(other), TokenDigest(token));
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

// The proof's moments are steady_clock points the tests make up.
using Moment = ViewProof::Clock::time_point;
Moment At(int ms) { return Moment{} + std::chrono::hours(1) + std::chrono::milliseconds(ms); }

struct ProofFixture {
  int beacons_wanted = 0;
  ViewProof proof{[this] { ++beacons_wanted; }};
};

constexpr ViewProof::Key kLeaseKey{ViewProof::KeyKind::kLease, 0x1234};

TEST(ViewProofTest, AKeyNotFoundIsAbsentOnlyOnceABeaconSentAfterItsFirstQuestionCameBack) {
  ProofFixture f;
  f.proof.Proven(At(0));  // the view before anyone asked
  EXPECT_FALSE(f.proof.AbsenceProven(kLeaseKey, At(100)));
  EXPECT_EQ(f.beacons_wanted, 1);
  EXPECT_TRUE(f.proof.BeaconWanted());
  // A beacon sent before the question proves nothing about it.
  f.proof.Proven(At(90));
  EXPECT_FALSE(f.proof.AbsenceProven(kLeaseKey, At(150)));
  EXPECT_TRUE(f.proof.BeaconWanted());
  // One sent after the first question does, for every question after it.
  f.proof.Proven(At(100));
  EXPECT_FALSE(f.proof.BeaconWanted());
  EXPECT_TRUE(f.proof.AbsenceProven(kLeaseKey, At(200)));
  EXPECT_TRUE(f.proof.AbsenceProven(kLeaseKey, At(300)));
}

TEST(ViewProofTest, EveryKeyNeedsAProofAfterItsOwnFirstQuestion) {
  ProofFixture f;
  const ViewProof::Key session{ViewProof::KeyKind::kSession, 0x1234};  // the same id, another kind
  EXPECT_FALSE(f.proof.AbsenceProven(kLeaseKey, At(100)));
  f.proof.Proven(At(150));
  EXPECT_FALSE(f.proof.AbsenceProven(session, At(200)));
  EXPECT_TRUE(f.proof.AbsenceProven(kLeaseKey, At(200)));
  f.proof.Proven(At(250));
  EXPECT_TRUE(f.proof.AbsenceProven(session, At(300)));
}

TEST(ViewProofTest, ARemovalAppliedHereProvesALeaseOrSessionAbsentAtOnce) {
  ProofFixture f;
  EXPECT_FALSE(f.proof.KnownRemoved(kLeaseKey));
  f.proof.NoteRemoved(kLeaseKey);
  EXPECT_TRUE(f.proof.KnownRemoved(kLeaseKey));
  EXPECT_TRUE(f.proof.AbsenceProven(kLeaseKey, At(100)));
  EXPECT_EQ(f.beacons_wanted, 0);
  // A question unanswered is no removal.
  const ViewProof::Key asked{ViewProof::KeyKind::kLease, 0x5678};
  EXPECT_FALSE(f.proof.AbsenceProven(asked, At(100)));
  EXPECT_FALSE(f.proof.KnownRemoved(asked));
}

TEST(ViewProofTest, ASeedIdFoundAbsentNeedsAFreshProofNextTime) {
  // One seed id is one server, which may register again on another node.
  ProofFixture f;
  const ViewProof::Key seed{ViewProof::KeyKind::kSeedId, 7};
  EXPECT_FALSE(f.proof.AbsenceProven(seed, At(100)));
  f.proof.Proven(At(100));
  EXPECT_TRUE(f.proof.AbsenceProven(seed, At(200)));
  EXPECT_FALSE(f.proof.AbsenceProven(seed, At(300)));
}

TEST(ViewProofTest, AWaiterRunsOnceAProofCoversItsMomentAndGivesUpAtItsDeadline) {
  ProofFixture f;
  std::vector<std::pair<int, bool>> outcomes;
  f.proof.WhenProven(At(100), At(5100), [&](bool proven) { outcomes.emplace_back(1, proven); });
  f.proof.WhenProven(At(200), At(5200), [&](bool proven) { outcomes.emplace_back(2, proven); });
  f.proof.WhenProven(At(300), At(400), [&](bool proven) { outcomes.emplace_back(3, proven); });
  EXPECT_EQ(f.beacons_wanted, 3);
  f.proof.Proven(At(150));
  EXPECT_EQ(outcomes, (std::vector<std::pair<int, bool>>{{1, true}}));
  f.proof.ExpireWaiters(At(400));
  EXPECT_EQ(outcomes, (std::vector<std::pair<int, bool>>{{1, true}, {3, false}}));
  f.proof.Proven(At(250));
  EXPECT_EQ(outcomes, (std::vector<std::pair<int, bool>>{{1, true}, {3, false}, {2, true}}));
  // Covered already: at once.
  f.proof.WhenProven(At(240), At(5000), [&](bool proven) { outcomes.emplace_back(4, proven); });
  EXPECT_EQ(outcomes.back(), std::make_pair(4, true));
  EXPECT_EQ(f.beacons_wanted, 3);
}

TEST(ViewProofTest, StoppingFailsEveryWaiterAndThoseAfter) {
  ProofFixture f;
  std::vector<bool> outcomes;
  f.proof.WhenProven(At(100), At(5000), [&](bool proven) { outcomes.push_back(proven); });
  f.proof.Stop();
  f.proof.WhenProven(At(200), At(5000), [&](bool proven) { outcomes.push_back(proven); });
  EXPECT_EQ(outcomes, (std::vector<bool>{false, false}));
}

TEST(ViewProofTest, AServerIdAskedAgainAndAgainIsForgottenOnlyAsItsLatestEntryAges) {
  // Each proven NOT_FOUND of a server id forgets it, and its next question
  // remembers it anew: the old places in the order must not forget the new.
  ProofFixture f;
  const ViewProof::Key seed{ViewProof::KeyKind::kSeedId, 7};
  for (int round = 0; round < 3; ++round) {
    EXPECT_FALSE(f.proof.AbsenceProven(seed, At(100 * (2 * round + 1))));
    f.proof.Proven(At(100 * (2 * round + 1)));
    EXPECT_TRUE(f.proof.AbsenceProven(seed, At(100 * (2 * round + 2))));
  }
  EXPECT_FALSE(f.proof.AbsenceProven(seed, At(1000)));
  for (uint64_t id = 1; id < ViewProof::kMaxRemembered - 1; ++id) {
    f.proof.NoteRemoved({ViewProof::KeyKind::kSession, id});
  }
  f.proof.Proven(At(1000));
  EXPECT_TRUE(f.proof.AbsenceProven(seed, At(1100)));
}

TEST(ViewProofTest, WhatItRemembersIsBoundedAndForgettingOnlyAsksAgain) {
  ProofFixture f;
  EXPECT_FALSE(f.proof.AbsenceProven(kLeaseKey, At(100)));
  for (uint64_t id = 1; id <= ViewProof::kMaxRemembered; ++id) {
    f.proof.NoteRemoved({ViewProof::KeyKind::kSession, id});
  }
  f.proof.Proven(At(200));
  // Forgotten: its first question is asked again, never answered from nothing.
  EXPECT_FALSE(f.proof.AbsenceProven(kLeaseKey, At(300)));
  EXPECT_TRUE(f.proof.AbsenceProven({ViewProof::KeyKind::kSession, ViewProof::kMaxRemembered}, At(300)));
}

}  // namespace
}  // namespace registryd::cluster
