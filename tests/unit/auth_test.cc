// The authorization library without gRPC: the policy file (parsing, every
// error by file:line:column), what it grants whom (patterns, anonymous
// callers, admin implying register), the token file and the certificate
// rule.
#include <cctype>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "auth/certificate_identity.h"
#include "auth/grants.h"
#include "auth/permission.h"
#include "auth/policy.h"
#include "auth/tokens.h"

namespace registryd::auth {
namespace {

constexpr Permission kRead = Permission::kRead;
constexpr Permission kRegister = Permission::kRegister;
constexpr Permission kAdmin = Permission::kAdmin;

// sha256("abc"), FIPS 180-2's first example.
constexpr std::string_view kSha256OfAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::shared_ptr<const Policy> MustParse(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Policy>> policy = Policy::Parse(text, "policy.txt");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : nullptr;
}

// INVALID_ARGUMENT whose message starts with `position` ("file:line:column: ")
// and contains every fragment.
::testing::AssertionResult InvalidAt(const absl::Status& status, std::string_view position,
                                     std::initializer_list<std::string_view> fragments) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << status;
  }
  const std::string message(status.message());
  if (!std::string_view(message).starts_with(position)) {
    return ::testing::AssertionFailure() << "message \"" << message << "\" does not start with \"" << position << "\"";
  }
  for (const std::string_view fragment : fragments) {
    if (message.find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult PolicyInvalidAt(std::string_view text, std::string_view position,
                                           std::initializer_list<std::string_view> fragments) {
  return InvalidAt(Policy::Parse(text, "policy.txt").status(), position, fragments);
}

::testing::AssertionResult TokensInvalidAt(std::string_view text, std::string_view position,
                                           std::initializer_list<std::string_view> fragments) {
  return InvalidAt(TokenTable::Parse(text, "tokens.txt").status(), position, fragments);
}

// --- parsing ---------------------------------------------------------------

TEST(PolicyParse, ReadsRulesWithCommentsListsAndBothBraceStyles) {
  const auto policy = MustParse(
      "# the shop\n"
      "rule {\n"
      "  identity: \"spiffe://prod/ns/shop/sa/orders\"   # the orders service\n"
      "  identity: \"spiffe://prod/ns/shop/sa/ops-*\"\n"
      "  service: \"orders\"\n"
      "  service: \"orders-*\"\n"
      "  permission: REGISTER\n"
      "  permission: READ\n"
      "}\n"
      "rule < identity: \"*\" service: \"*\" permission: [READ] >\n"
      "rule { anonymous: true service: \"catalog\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->rule_count(), 3u);
  const auto orders = policy->GrantsFor("spiffe://prod/ns/shop/sa/orders");
  EXPECT_TRUE(orders->Allows(kRegister, "orders"));
  EXPECT_TRUE(orders->Allows(kRegister, "orders-eu"));
  EXPECT_FALSE(orders->Allows(kRegister, "payments"));
  EXPECT_TRUE(orders->Allows(kRead, "payments"));
}

TEST(PolicyParse, AnEmptyOrCommentOnlyFileIsAPolicyThatRefusesEverything) {
  for (const std::string_view text : {"", "# nothing yet\n\n"}) {
    const auto policy = MustParse(text);
    ASSERT_NE(policy, nullptr);
    EXPECT_EQ(policy->rule_count(), 0u);
    for (const std::string_view identity : {"", "alice"}) {
      const auto grants = policy->GrantsFor(identity);
      for (const Permission permission : {kRead, kRegister, kAdmin}) {
        EXPECT_FALSE(grants->Allows(permission, "orders"));
        EXPECT_FALSE(grants->AllowsSome(permission));
        EXPECT_FALSE(grants->AllowsEveryService(permission));
      }
    }
  }
}

TEST(PolicyParse, SyntaxErrorsNameTheLineAndColumn) {
  // protobuf names the token where it noticed: the one after the culprit.
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  idnetity: \"a\"\n}\n", "policy.txt:2:11: ", {"no field named \"idnetity\""}));
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"b\" permission: WRITE }\n", "policy.txt:1:53: ",
                              {"Unknown enumeration value of \"WRITE\""}));
  // Unclosed rule: at the end of the input.
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  identity: \"a\"\n", "policy.txt:3:1: ", {}));
  // A singular field twice.
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  anonymous: true\n  anonymous: false\n}\n", "policy.txt:3:", {"anonymous"}));
  // A string where the file wants a message.
  EXPECT_TRUE(PolicyInvalidAt("\n\nrule: \"orders\"\n", "policy.txt:3:7: ", {}));
}

TEST(PolicyParse, AStarAnywhereButTheEndOfAPatternIsRefusedAtThatPattern) {
  EXPECT_TRUE(PolicyInvalidAt("rule {\n"
                              "  identity: \"ok\"\n"
                              "    identity: \"spiffe://*/orders\"\n"
                              "  service: \"orders\"\n"
                              "  permission: READ\n"
                              "}\n",
                              "policy.txt:3:5: ", {"identity pattern", "spiffe://*/orders", "'*'"}));
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"*orders\" permission: READ }\n", "policy.txt:1:22: ",
                              {"service pattern", "*orders", "'*'"}));
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"**\" permission: READ }\n", "policy.txt:1:22: ",
                              {"service pattern"}));
}

TEST(PolicyParse, EmptyPatternsAreRefusedAtThePattern) {
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  identity: \"\"\n  service: \"a\"\n  permission: READ\n}\n",
                              "policy.txt:2:3: ", {"identity pattern is empty"}));
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  identity: \"a\"\n  service: \"\"\n  permission: READ\n}\n",
                              "policy.txt:3:3: ", {"service pattern is empty"}));
}

TEST(PolicyParse, ARuleMissingAPartIsRefusedAtTheRule) {
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"b\" permission: READ }\n"
                              "  rule { service: \"b\" permission: READ }\n",
                              "policy.txt:2:3: ", {"no identity", "not anonymous"}));
  EXPECT_TRUE(PolicyInvalidAt("rule { anonymous: false service: \"b\" permission: READ }\n", "policy.txt:1:1: ",
                              {"no identity"}));
  EXPECT_TRUE(PolicyInvalidAt("\nrule { identity: \"a\" permission: READ }\n", "policy.txt:2:1: ", {"no service"}));
  EXPECT_TRUE(PolicyInvalidAt("rule { anonymous: true service: \"b\" }\n", "policy.txt:1:1: ", {"no permission"}));
}

TEST(PolicyParse, PermissionMustBeReadRegisterOrAdmin) {
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  identity: \"a\"\n  service: \"b\"\n  permission: READ\n"
                              "  permission: PERMISSION_UNSPECIFIED\n}\n",
                              "policy.txt:5:3: ", {"READ, REGISTER or ADMIN", "PERMISSION_UNSPECIFIED"}));
  // proto3 enums take numbers the enum does not name.
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"b\" permission: 7 }\n", "policy.txt:1:35: ",
                              {"READ, REGISTER or ADMIN", "got 7"}));
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"b\" permission: 0 }\n", "policy.txt:1:35: ",
                              {"PERMISSION_UNSPECIFIED"}));
  // A list records only where it starts: the error is there.
  EXPECT_TRUE(PolicyInvalidAt("rule { identity: \"a\" service: \"b\" permission: [READ, PERMISSION_UNSPECIFIED] }\n",
                              "policy.txt:1:35: ", {"PERMISSION_UNSPECIFIED"}));
}

TEST(PolicyParse, IdentityPatternsAreAtMost255Bytes) {
  const auto rule = [](const std::string& identity) {
    return fmt::format("rule {{\n  service: \"a\"\n  identity: \"{}\"\n  permission: READ\n}}\n", identity);
  };
  EXPECT_NE(MustParse(rule(std::string(kMaxIdentityBytes, 'i'))), nullptr);
  EXPECT_NE(MustParse(rule(std::string(kMaxIdentityBytes - 1, 'i') + "*")), nullptr);
  EXPECT_TRUE(PolicyInvalidAt(rule(std::string(kMaxIdentityBytes + 1, 'i')), "policy.txt:3:3: ",
                              {"identity pattern is 256 bytes", "at most 255"}));
}

TEST(PolicyParse, IdentityPatternsHoldNoControlCharacter) {
  const auto rule = [](const std::string& identity) {
    return fmt::format("rule {{\n  service: \"a\"\n  identity: \"{}\"\n  permission: READ\n}}\n", identity);
  };
  EXPECT_NE(MustParse(rule("spiffe://shop/sa/caf\\303\\251")), nullptr);  // UTF-8 is fine
  EXPECT_TRUE(PolicyInvalidAt(rule("ops\\nroot"), "policy.txt:3:3: ",
                              {"identity pattern holds a control character", "0x0a at byte 4"}));
  EXPECT_TRUE(PolicyInvalidAt(rule("ops\\177*"), "policy.txt:3:3: ", {"control character", "0x7f"}));
}

TEST(PolicyParse, ServicePatternsMustBeValidServiceNamesBeforeTheirStar) {
  const auto rule = [](const std::string& service) {
    return fmt::format("rule {{ identity: \"a\"\n permission: READ service: \"{}\" }}\n", service);
  };
  EXPECT_NE(MustParse(rule(std::string(255, 's'))), nullptr);
  EXPECT_NE(MustParse(rule(std::string(255, 's') + "*")), nullptr);
  EXPECT_TRUE(PolicyInvalidAt(rule(std::string(256, 's')), "policy.txt:2:19: ", {"service pattern", "1..255 bytes"}));
  EXPECT_TRUE(PolicyInvalidAt(rule("or\\001ders"), "policy.txt:2:19: ", {"service pattern", "control characters"}));
  EXPECT_TRUE(PolicyInvalidAt(rule("caf\\303*"), "policy.txt:2:19: ", {"service pattern", "UTF-8"}));
}

TEST(PolicyParse, TheSecondValueOfARepeatedFieldIsNamedByItsOwnPosition) {
  EXPECT_TRUE(PolicyInvalidAt("rule {\n  identity: \"a\"\n  service: \"ok\"\n  service: \"not*ok\"\n  permission: READ\n}\n",
                              "policy.txt:4:3: ", {"not*ok"}));
}

TEST(PolicyParse, AtMostTenThousandRules) {
  std::string text;
  for (size_t i = 0; i < kMaxPolicyRules; ++i) text += "rule { identity: \"a\" service: \"b\" permission: READ }\n";
  const auto policy = MustParse(text);
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->rule_count(), kMaxPolicyRules);
  text += "rule { identity: \"a\" service: \"b\" permission: READ }\n";
  EXPECT_TRUE(PolicyInvalidAt(text, "policy.txt:10001:1: ", {"too many rules", "at most 10000"}));
}

TEST(PolicyParse, AFileOverOneMebibyteIsRefusedBeforeParsing) {
  std::string text(1 << 20, '#');
  text.back() = '\n';
  EXPECT_NE(MustParse(text), nullptr);  // a comment of 1 MiB: the limit itself is fine
  text += "\n";
  EXPECT_TRUE(PolicyInvalidAt(text, "policy.txt: ", {"1048577 bytes", "1 MiB"}));
}

// --- what a policy grants ---------------------------------------------------

TEST(PolicyGrants, IdentityPatternsAreExactPrefixOrEveryAuthenticatedIdentity) {
  const auto policy = MustParse(
      "rule { identity: \"spiffe://prod/ns/shop/sa/orders\" service: \"exact\" permission: READ }\n"
      "rule { identity: \"spiffe://prod/ns/shop/*\" service: \"prefix\" permission: READ }\n"
      "rule { identity: \"*\" service: \"star\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  const auto orders = policy->GrantsFor("spiffe://prod/ns/shop/sa/orders");
  EXPECT_TRUE(orders->Allows(kRead, "exact"));
  EXPECT_TRUE(orders->Allows(kRead, "prefix"));
  EXPECT_TRUE(orders->Allows(kRead, "star"));

  const auto other = policy->GrantsFor("spiffe://prod/ns/shop/sa/orders2");  // exact means exact
  EXPECT_FALSE(other->Allows(kRead, "exact"));
  EXPECT_TRUE(other->Allows(kRead, "prefix"));

  const auto shopping = policy->GrantsFor("spiffe://prod/ns/shopping");  // the prefix ends with '/'
  EXPECT_FALSE(shopping->Allows(kRead, "prefix"));
  EXPECT_TRUE(shopping->Allows(kRead, "star"));

  const auto anonymous = policy->GrantsFor("");  // "*" is every *authenticated* identity
  EXPECT_FALSE(anonymous->Allows(kRead, "star"));
  EXPECT_FALSE(anonymous->AllowsSome(kRead));
}

TEST(PolicyGrants, ServicePatternsAreExactPrefixOrEveryService) {
  const auto policy = MustParse(
      "rule { identity: \"a\" service: \"orders\" permission: REGISTER }\n"
      "rule { identity: \"b\" service: \"orders-*\" permission: REGISTER }\n"
      "rule { identity: \"c\" service: \"*\" permission: REGISTER }\n");
  ASSERT_NE(policy, nullptr);
  const auto a = policy->GrantsFor("a");
  EXPECT_TRUE(a->Allows(kRegister, "orders"));
  EXPECT_FALSE(a->Allows(kRegister, "orders-eu"));
  EXPECT_FALSE(a->Allows(kRegister, "order"));
  const auto b = policy->GrantsFor("b");
  EXPECT_FALSE(b->Allows(kRegister, "orders"));
  EXPECT_TRUE(b->Allows(kRegister, "orders-eu"));
  EXPECT_TRUE(b->Allows(kRegister, "orders-"));
  const auto c = policy->GrantsFor("c");
  EXPECT_TRUE(c->Allows(kRegister, "orders"));
  EXPECT_TRUE(c->Allows(kRegister, "anything at all"));
  EXPECT_FALSE(policy->GrantsFor("d")->AllowsSome(kRegister));
}

TEST(PolicyGrants, AnonymousCallersGetOnlyAnonymousRulesWhichEveryCallerGets) {
  const auto policy = MustParse(
      "rule { anonymous: true service: \"catalog\" permission: READ }\n"
      "rule { identity: \"*\" service: \"orders\" permission: READ }\n"
      "rule { anonymous: true identity: \"ops\" service: \"status\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  const auto anonymous = policy->GrantsFor("");
  EXPECT_TRUE(anonymous->Allows(kRead, "catalog"));
  EXPECT_TRUE(anonymous->Allows(kRead, "status"));
  EXPECT_FALSE(anonymous->Allows(kRead, "orders"));
  EXPECT_FALSE(anonymous->Allows(kRegister, "catalog"));
  // Presenting an identity never takes a right away.
  const auto alice = policy->GrantsFor("alice");
  EXPECT_TRUE(alice->Allows(kRead, "catalog"));
  EXPECT_TRUE(alice->Allows(kRead, "orders"));
  EXPECT_TRUE(alice->Allows(kRead, "status"));
}

TEST(PolicyGrants, AdminImpliesRegisterButNotRead) {
  const auto policy = MustParse(
      "rule { identity: \"admin\" service: \"orders\" service: \"pay-*\" permission: ADMIN }\n"
      "rule { identity: \"all-admin\" service: \"*\" permission: ADMIN }\n");
  ASSERT_NE(policy, nullptr);
  const auto admin = policy->GrantsFor("admin");
  for (const std::string_view service : {"orders", "pay-eu"}) {
    EXPECT_TRUE(admin->Allows(kAdmin, service));
    EXPECT_TRUE(admin->Allows(kRegister, service));
    EXPECT_FALSE(admin->Allows(kRead, service));
  }
  EXPECT_FALSE(admin->Allows(kRegister, "catalog"));
  EXPECT_TRUE(admin->AllowsSome(kRegister));
  EXPECT_FALSE(admin->AllowsSome(kRead));
  const auto all_admin = policy->GrantsFor("all-admin");
  EXPECT_TRUE(all_admin->AllowsEveryService(kAdmin));
  EXPECT_TRUE(all_admin->AllowsEveryService(kRegister));
  EXPECT_FALSE(all_admin->AllowsEveryService(kRead));
}

TEST(PolicyGrants, RegisterAndReadAreSeparateAndImplyNothing) {
  const auto policy = MustParse(
      "rule { identity: \"writer\" service: \"orders\" permission: REGISTER }\n"
      "rule { identity: \"reader\" service: \"orders\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  const auto writer = policy->GrantsFor("writer");
  EXPECT_TRUE(writer->Allows(kRegister, "orders"));
  EXPECT_FALSE(writer->Allows(kRead, "orders"));
  EXPECT_FALSE(writer->Allows(kAdmin, "orders"));
  const auto reader = policy->GrantsFor("reader");
  EXPECT_TRUE(reader->Allows(kRead, "orders"));
  EXPECT_FALSE(reader->Allows(kRegister, "orders"));
  EXPECT_FALSE(reader->Allows(kAdmin, "orders"));
}

TEST(PolicyGrants, EveryServiceNeedsAStarRuleAndSomeServiceNeedsAnyRule) {
  const auto policy = MustParse(
      "rule { identity: \"watcher\" service: \"*\" permission: READ }\n"
      "rule { identity: \"partial\" service: \"orders-*\" service: \"catalog\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  const auto watcher = policy->GrantsFor("watcher");
  EXPECT_TRUE(watcher->AllowsEveryService(kRead));
  EXPECT_TRUE(watcher->AllowsSome(kRead));
  EXPECT_FALSE(watcher->AllowsEveryService(kRegister));
  EXPECT_FALSE(watcher->AllowsSome(kRegister));
  const auto partial = policy->GrantsFor("partial");
  EXPECT_FALSE(partial->AllowsEveryService(kRead));  // a Watch of every service is refused
  EXPECT_TRUE(partial->AllowsSome(kRead));
}

TEST(PolicyGrants, GrantsOfSeveralRulesAddUp) {
  // An exact name also gets what "*" and its matching prefixes give.
  const auto policy = MustParse(
      "rule { identity: \"x\" service: \"orders\" permission: READ }\n"
      "rule { identity: \"x\" service: \"ord*\" permission: REGISTER }\n"
      "rule { identity: \"x\" service: \"o*\" permission: ADMIN }\n"
      "rule { identity: \"y\" service: \"orders\" permission: REGISTER }\n"
      "rule { identity: \"y\" service: \"*\" permission: READ }\n");
  ASSERT_NE(policy, nullptr);
  const auto x = policy->GrantsFor("x");
  EXPECT_TRUE(x->Allows(kRead, "orders"));
  EXPECT_TRUE(x->Allows(kRegister, "orders"));
  EXPECT_TRUE(x->Allows(kAdmin, "orders"));
  EXPECT_FALSE(x->Allows(kRead, "order"));
  EXPECT_TRUE(x->Allows(kRegister, "order"));
  EXPECT_TRUE(x->Allows(kAdmin, "other"));
  EXPECT_TRUE(x->Allows(kRegister, "other"));
  EXPECT_FALSE(x->Allows(kRegister, "payments"));
  const auto y = policy->GrantsFor("y");
  EXPECT_TRUE(y->Allows(kRead, "orders"));
  EXPECT_TRUE(y->Allows(kRegister, "orders"));
  EXPECT_TRUE(y->Allows(kRead, "payments"));
  EXPECT_FALSE(y->Allows(kRegister, "payments"));
}

// A hundred rules of every kind, checked against a direct reading of them.
TEST(PolicyGrants, AHundredRulePolicyCompilesToWhatItsRulesSay) {
  struct Reference {
    std::string identity;  // pattern as written
    bool anonymous;
    std::string service;  // pattern as written
    Permission permission;
  };
  const auto matches = [](std::string_view pattern, std::string_view name) {
    if (!pattern.empty() && pattern.back() == '*') return name.starts_with(pattern.substr(0, pattern.size() - 1));
    return name == pattern;
  };
  constexpr Permission kPermissions[] = {kRead, kRegister, kAdmin};
  std::vector<Reference> rules;
  for (int i = 0; i < 100; ++i) {
    Reference rule;
    rule.anonymous = i % 17 == 0;
    rule.identity = i % 10 == 0   ? "team-*"
                    : i % 13 == 0 ? "*"
                                  : fmt::format("team-{}", i % 7);
    rule.service = i % 9 == 0 ? "*" : i % 4 == 0 ? fmt::format("svc-{}*", i % 3) : fmt::format("svc-{}", i % 11);
    rule.permission = kPermissions[i % 3];
    rules.push_back(rule);
  }
  std::string text;
  for (const Reference& rule : rules) {
    const char* names[] = {"", "READ", "REGISTER", "", "ADMIN"};
    text += fmt::format("rule {{ identity: \"{}\" {} service: \"{}\" permission: {} }}\n", rule.identity,
                        rule.anonymous ? "anonymous: true" : "", rule.service,
                        names[static_cast<int>(rule.permission)]);
  }
  const auto policy = MustParse(text);
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->rule_count(), 100u);

  std::vector<std::string> services = {"svc-", "other", "svc-10x", "svc"};
  for (int i = 0; i < 12; ++i) services.push_back(fmt::format("svc-{}", i));
  std::vector<std::string> identities = {"", "team-", "team-x", "nobody"};
  for (int i = 0; i < 8; ++i) identities.push_back(fmt::format("team-{}", i));
  int allowed = 0;
  for (const std::string& identity : identities) {
    const auto grants = policy->GrantsFor(identity);
    for (const Permission permission : kPermissions) {
      bool some = false;
      bool every = false;
      for (const std::string& service : services) {
        bool expected = false;
        for (const Reference& rule : rules) {
          const bool applies = rule.anonymous || (!identity.empty() && matches(rule.identity, identity));
          const bool gives = rule.permission == permission ||
                             (permission == kRegister && rule.permission == kAdmin);
          if (applies && gives) {
            some = true;
            every = every || rule.service == "*";
            expected = expected || matches(rule.service, service);
          }
        }
        EXPECT_EQ(grants->Allows(permission, service), expected)
            << "identity \"" << identity << "\" " << NameOf(permission) << " on " << service;
        allowed += expected;
      }
      EXPECT_EQ(grants->AllowsSome(permission), some) << identity << " " << NameOf(permission);
      EXPECT_EQ(grants->AllowsEveryService(permission), every) << identity << " " << NameOf(permission);
    }
  }
  // The reference is not trivially all-yes or all-no.
  EXPECT_GT(allowed, 50);
  EXPECT_LT(allowed, static_cast<int>(identities.size() * services.size() * 3) - 50);
}

TEST(Permissions, NameOfSaysWhatTheCallNeeds) {
  EXPECT_EQ(NameOf(kRead), "read");
  EXPECT_EQ(NameOf(kRegister), "register");
  EXPECT_EQ(NameOf(kAdmin), "admin");
}

// --- tokens ---------------------------------------------------------------

TEST(Tokens, TheBearerSchemeInAnyCaseCarriesTheToken) {
  EXPECT_EQ(BearerToken("Bearer tok-1"), "tok-1");
  EXPECT_EQ(BearerToken("bearer tok-1"), "tok-1");
  EXPECT_EQ(BearerToken("BEARER tok 1"), "tok 1");
  EXPECT_EQ(BearerToken("Bearer "), "");  // no token at all
  EXPECT_EQ(BearerToken("Basic dXNlcjpwdw=="), "");
  EXPECT_EQ(BearerToken("Bearertok-1"), "");
  EXPECT_EQ(BearerToken(""), "");
}

TEST(Tokens, ATokenStandsForTheIdentityOfItsSha256) {
  const absl::StatusOr<TokenTable> table = TokenTable::Parse(
      fmt::format("# deploy tokens\n"
                  "token {{ sha256: \"{}\" identity: \"deployer\" }}\n"
                  "token {{ sha256: \"{}\" identity: \"ops\" }}\n",
                  kSha256OfAbc, std::string(64, '1')),
      "tokens.txt");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(table->IdentityOf("abc"), "deployer");
  EXPECT_EQ(table->IdentityOf("abd"), std::nullopt);
  EXPECT_EQ(table->IdentityOf("ab"), std::nullopt);
  EXPECT_EQ(table->IdentityOf(""), std::nullopt);
  EXPECT_EQ(table->IdentityOf(kSha256OfAbc), std::nullopt);  // the hash is not the token
}

TEST(Tokens, HexDigitsMayBeUpperCase) {
  std::string upper(kSha256OfAbc);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const absl::StatusOr<TokenTable> table =
      TokenTable::Parse(fmt::format("token {{ sha256: \"{}\" identity: \"deployer\" }}", upper), "tokens.txt");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->IdentityOf("abc"), "deployer");
}

TEST(Tokens, AnEmptyFileHasNoToken) {
  const absl::StatusOr<TokenTable> table = TokenTable::Parse("# none\n", "tokens.txt");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 0u);
  EXPECT_EQ(table->IdentityOf("abc"), std::nullopt);
  EXPECT_EQ(TokenTable().IdentityOf("abc"), std::nullopt);
}

TEST(Tokens, BadFilesNameTheLineAndColumn) {
  const std::string good = fmt::format("token {{ sha256: \"{}\" identity: \"deployer\" }}\n", kSha256OfAbc);
  EXPECT_TRUE(TokensInvalidAt(good + "token {\n  sha256: \"abc\"\n  identity: \"x\"\n}\n", "tokens.txt:3:3: ",
                              {"64 hex digits", "got 3"}));
  EXPECT_TRUE(TokensInvalidAt(good + "token {\n  sha256: \"" + std::string(63, 'a') + "g\"\n  identity: \"x\"\n}\n",
                              "tokens.txt:3:3: ", {"64 hex digits", "character 64", "'g'"}));
  EXPECT_TRUE(TokensInvalidAt(good + "token { identity: \"x\" }\n", "tokens.txt:2:1: ", {"64 hex digits", "got 0"}));
  EXPECT_TRUE(TokensInvalidAt(good + "token {\n  sha256: \"" + std::string(64, 'b') + "\"\n  identity: \"\"\n}\n",
                              "tokens.txt:4:3: ", {"identity is empty"}));
  EXPECT_TRUE(TokensInvalidAt(good + "token { sha256: \"" + std::string(64, 'b') + "\" }\n", "tokens.txt:2:1: ",
                              {"identity is empty"}));
  EXPECT_TRUE(TokensInvalidAt(
      good + "token {\n  sha256: \"" + std::string(64, 'b') + "\"\n  identity: \"" + std::string(256, 'i') + "\"\n}\n",
      "tokens.txt:4:3: ", {"256 bytes", "at most 255"}));
  EXPECT_TRUE(TokensInvalidAt(good + "token { sha256: \"" + std::string(64, 'b') + "\" identity: \"ci\\tbot\" }\n",
                              "tokens.txt:2:", {"identity holds a control character", "0x09 at byte 3"}));
  std::string upper(kSha256OfAbc);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(TokensInvalidAt(good + "\ntoken { identity: \"other\" sha256: \"" + upper + "\" }\n", "tokens.txt:3:27: ",
                              {"same sha256", "line 1"}));
  // `printf %s "" | sha256sum`: an empty token would let anyone in who sends "Bearer ".
  EXPECT_TRUE(TokensInvalidAt(
      "token { sha256: \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" identity: \"x\" }\n",
      "tokens.txt:1:9: ", {"empty token"}));
  EXPECT_TRUE(TokensInvalidAt("token { sha256: \"" + std::string(64, 'b') + "\" identity: \"x\" name: \"y\" }\n",
                              "tokens.txt:1:", {"name"}));
}

TEST(Tokens, AtMostTenThousandTokens) {
  std::string text;
  for (size_t i = 0; i <= kMaxTokens; ++i) {
    text += fmt::format("token {{ sha256: \"{:064x}\" identity: \"t{}\" }}\n", i + 1, i);
  }
  EXPECT_TRUE(TokensInvalidAt(text, "tokens.txt:10001:1: ", {"too many tokens", "at most 10000"}));
}

// --- certificates ------------------------------------------------------------

TEST(CertificateIdentity, FirstUriSanElseFirstDnsSanElseCommonName) {
  const std::vector<std::string_view> uris = {"spiffe://prod/ns/shop/sa/orders", "spiffe://prod/other"};
  const std::vector<std::string_view> dns = {"orders.shop.internal", "orders"};
  EXPECT_EQ(IdentityOfCertificate(uris, dns, "orders-cn"), "spiffe://prod/ns/shop/sa/orders");
  EXPECT_EQ(IdentityOfCertificate({}, dns, "orders-cn"), "orders.shop.internal");
  EXPECT_EQ(IdentityOfCertificate({}, {}, "orders-cn"), "orders-cn");
  EXPECT_EQ(IdentityOfCertificate({}, {}, ""), "");
}

}  // namespace
}  // namespace registryd::auth
