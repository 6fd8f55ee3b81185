// The DNS face's names and answers, in process: queries built and answers
// read with ldns, the registry on a manual clock.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include "dns/ldns.h"

#include "dns/dns_answerer.h"
#include "dns/dns_name.h"
#include "test_specs.h"

namespace registryd::dns {
namespace {

TEST(DnsName, EveryFormUnderTheDomain) {
  const std::string domain = "registryd.";
  struct Case {
    const char* name;
    NameKind kind;
    const char* service;
    const char* instance;
  };
  for (const Case& c : std::vector<Case>{
           {"orders.service.registryd.", NameKind::kService, "orders", ""},
           {"Orders.SERVICE.Registryd.", NameKind::kService, "orders", ""},
           {"_orders._tcp.service.registryd.", NameKind::kService, "orders", ""},
           {"web-1.orders.instance.registryd.", NameKind::kInstance, "orders", "web-1"},
           {"registryd.", NameKind::kApex, "", ""},
           {"service.registryd.", NameKind::kEmpty, "", ""},
           {"_tcp.service.registryd.", NameKind::kEmpty, "", ""},
           {"instance.registryd.", NameKind::kEmpty, "", ""},
           {"orders.instance.registryd.", NameKind::kUnknown, "", ""},
           {"_orders._udp.service.registryd.", NameKind::kUnknown, "", ""},
           {"under_score.service.registryd.", NameKind::kUnknown, "", ""},
           {"-orders.service.registryd.", NameKind::kUnknown, "", ""},
           {"a.orders.service.registryd.", NameKind::kUnknown, "", ""},
           {"x.registryd.", NameKind::kUnknown, "", ""},
           {"example.com.", NameKind::kOutside, "", ""},
           {"notregistryd.", NameKind::kOutside, "", ""},
           {".", NameKind::kOutside, "", ""},
       }) {
    const QueryName parsed = ParseQueryName(c.name, domain);
    EXPECT_EQ(parsed.kind, c.kind) << c.name;
    EXPECT_EQ(parsed.service, c.service) << c.name;
    EXPECT_EQ(parsed.instance, c.instance) << c.name;
  }
}

TEST(DnsName, DomainsAreLowerCaseAndAbsolute) {
  EXPECT_EQ(NormalizeDomain("registryd"), "registryd.");
  EXPECT_EQ(NormalizeDomain("Disco.Example."), "disco.example.");
  EXPECT_EQ(NormalizeDomain("."), std::nullopt);
  EXPECT_EQ(NormalizeDomain(""), std::nullopt);
  EXPECT_EQ(NormalizeDomain("under_score."), std::nullopt);
  EXPECT_EQ(NormalizeDomain("a..b"), std::nullopt);
}

struct PacketFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;

std::vector<uint8_t> Query(const std::string& name, ldns_rr_type type, uint16_t id = 7) {
  ldns_pkt* query = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&query, name.c_str(), type, LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
  ldns_pkt_set_id(query, id);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, query, &size), LDNS_STATUS_OK);
  std::vector<uint8_t> bytes(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(query);
  return bytes;
}

// `query` with an OPT record (UDP size 1232) holding a cookie, as dig sends.
std::vector<uint8_t> WithCookie(std::vector<uint8_t> query) {
  query[11] = 1;  // ARCOUNT
  const std::vector<uint8_t> opt = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  query.insert(query.end(), opt.begin(), opt.end());
  return query;
}

std::string QuestionName(const ldns_pkt* answer) {
  const std::unique_ptr<char, decltype(&std::free)> name(
      ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(answer), 0))), &std::free);
  return name.get();
}

Packet Read(const std::string& answer) {
  ldns_pkt* packet = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&packet, reinterpret_cast<const uint8_t*>(answer.data()), answer.size()), LDNS_STATUS_OK);
  return Packet(packet);
}

class DnsAnswers : public test::RegistryFixture {
 protected:
  DnsAnswers() : RegistryFixture(RegistryOptions{}), answerer_(registry_, DnsOptions{}) {}

  LeaseId Add(const std::string& id, const std::string& host, uint16_t port = 80) {
    RegisterSpec spec = test::NativeSpec("orders", id, std::chrono::seconds(10), port);
    spec.host = host;
    return Register(spec);
  }

  Packet Ask(const std::string& name, ldns_rr_type type, bool over_tcp = false) {
    const std::vector<uint8_t> query = Query(name, type);
    return Read(answerer_.Answer(query, over_tcp));
  }

  DnsAnswerer answerer_;
};

TEST_F(DnsAnswers, TheAnswersFollowTheRegistry) {
  Add("a", "10.0.0.1");
  EXPECT_EQ(ldns_pkt_ancount(Ask("orders.service.registryd.", LDNS_RR_TYPE_A).get()), 1);
  const LeaseId second = Add("b", "10.0.0.2");
  EXPECT_EQ(ldns_pkt_ancount(Ask("orders.service.registryd.", LDNS_RR_TYPE_A).get()), 2);
  ASSERT_TRUE(registry_.Deregister(second).ok());
  EXPECT_EQ(ldns_pkt_ancount(Ask("orders.service.registryd.", LDNS_RR_TYPE_A).get()), 1);
}

TEST_F(DnsAnswers, AnExpiredInstanceIsGone) {
  Add("a", "10.0.0.1");
  EXPECT_EQ(ldns_pkt_get_rcode(Ask("a.orders.instance.registryd.", LDNS_RR_TYPE_A).get()), LDNS_RCODE_NOERROR);
  clock_.Advance(std::chrono::seconds(11));
  test::ExpireDue(registry_);
  EXPECT_EQ(ldns_pkt_get_rcode(Ask("a.orders.instance.registryd.", LDNS_RR_TYPE_A).get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsAnswers, UdpAnswersHoldWholeRecordsWithinTheLimit) {
  for (int i = 0; i < 60; ++i) Add("instance-" + std::to_string(i), "10.1.0." + std::to_string(i + 1));
  const std::vector<uint8_t> query = Query("orders.service.registryd.", LDNS_RR_TYPE_SRV);
  const std::string udp = answerer_.Answer(query, false);
  EXPECT_LE(udp.size(), 512u);
  const Packet truncated = Read(udp);  // parses: whole records only
  EXPECT_TRUE(ldns_pkt_tc(truncated.get()));
  EXPECT_GT(ldns_pkt_ancount(truncated.get()), 0);
  EXPECT_LT(ldns_pkt_ancount(truncated.get()), 60);
  const Packet whole = Read(answerer_.Answer(query, true));
  EXPECT_FALSE(ldns_pkt_tc(whole.get()));
  EXPECT_EQ(ldns_pkt_ancount(whole.get()), 60);
  EXPECT_EQ(ldns_pkt_arcount(whole.get()), 60);
}

TEST_F(DnsAnswers, AnUnchangedServiceIsAnsweredWithoutSerializingAnything) {
  for (int i = 0; i < 3; ++i) Add("i" + std::to_string(i), "10.2.0." + std::to_string(i + 1));
  const auto first_target = [&] {
    const Packet answer = Ask("orders.service.registryd.", LDNS_RR_TYPE_SRV);
    EXPECT_EQ(ldns_pkt_ancount(answer.get()), 3);
    const std::unique_ptr<char, decltype(&std::free)> target(
        ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(answer.get()), 0), 3)), &std::free);
    return std::string(target.get());
  };
  // The first round builds an answer for each record to start at; the
  // second serves them again from the cache, starting where they did.
  std::vector<std::string> first_round;
  for (int i = 0; i < 3; ++i) first_round.push_back(first_target());
  EXPECT_EQ(std::set<std::string>(first_round.begin(), first_round.end()).size(), 3u);
  EXPECT_EQ(answerer_.serialized(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(first_target(), first_round[i]);
  EXPECT_EQ(answerer_.serialized(), 3u) << "the second round came from the cache";
  // A change of the service: built again.
  Add("i3", "10.2.0.4");
  EXPECT_EQ(ldns_pkt_ancount(Ask("orders.service.registryd.", LDNS_RR_TYPE_SRV).get()), 4);
  EXPECT_EQ(answerer_.serialized(), 4u);
}

TEST_F(DnsAnswers, ACachedAnswerCarriesTheQuerysIdAndNameAsAsked) {
  Add("a", "10.0.0.1");
  const std::vector<uint8_t> lower = Query("orders.service.registryd.", LDNS_RR_TYPE_A, 1);
  (void)answerer_.Answer(lower, false);
  const std::vector<uint8_t> mixed = Query("OrDeRs.service.registryd.", LDNS_RR_TYPE_A, 4242);
  const std::string answer = answerer_.Answer(mixed, false);
  EXPECT_EQ(answerer_.serialized(), 1u);
  const Packet read = Read(answer);
  EXPECT_EQ(ldns_pkt_id(read.get()), 4242);
  EXPECT_EQ(QuestionName(read.get()), "OrDeRs.service.registryd.");
  EXPECT_EQ(ldns_pkt_ancount(read.get()), 1);
}

TEST_F(DnsAnswers, EachFormOfAServicesNameKeepsItsOwnAnswers) {
  for (int i = 0; i < 3; ++i) Add("i" + std::to_string(i), "10.3.0." + std::to_string(i + 1));
  // Asked in turn, with an odd number of records: the two names meet at
  // every place the rotation starts.
  for (int round = 0; round < 4; ++round) {
    for (const char* name : {"orders.service.registryd.", "_orders._tcp.service.registryd."}) {
      const Packet answer = Ask(name, LDNS_RR_TYPE_SRV);
      EXPECT_EQ(QuestionName(answer.get()), name);
      EXPECT_EQ(ldns_pkt_ancount(answer.get()), 3);
    }
  }
  EXPECT_EQ(answerer_.serialized(), 6u) << "one answer per name and place, then the cache";
}

TEST_F(DnsAnswers, AQueryWithEdnsOptionsIsAnsweredFromTheCache) {
  Add("a", "10.0.0.1");
  const std::vector<uint8_t> query = WithCookie(Query("a.orders.instance.registryd.", LDNS_RR_TYPE_A, 9));
  const std::string first = answerer_.Answer(query, false);
  const std::string second = answerer_.Answer(query, false);
  EXPECT_EQ(answerer_.serialized(), 1u);
  EXPECT_EQ(first, second);
  const Packet read = Read(second);
  EXPECT_TRUE(ldns_pkt_edns(read.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(read.get()), kMaxUdpAnswer);
  EXPECT_EQ(ldns_pkt_ancount(read.get()), 1);
  EXPECT_EQ(ldns_pkt_id(read.get()), 9);
}

TEST_F(DnsAnswers, MalformedQueries) {
  EXPECT_EQ(answerer_.Answer(std::vector<uint8_t>{0x12, 0x34, 0x01}, false), "");  // no header
  const std::vector<uint8_t> no_question{0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  const Packet formerr = Read(answerer_.Answer(no_question, false));
  EXPECT_EQ(ldns_pkt_id(formerr.get()), 0xabcd);
  EXPECT_EQ(ldns_pkt_get_rcode(formerr.get()), LDNS_RCODE_FORMERR);
  std::vector<uint8_t> response = Query("orders.service.registryd.", LDNS_RR_TYPE_A);
  response[2] |= 0x80;  // QR: a response, never answered
  EXPECT_EQ(answerer_.Answer(response, false), "");
}

}  // namespace
}  // namespace registryd::dns
