// Arbitrary bytes as a DNS query to the face's answerer, over UDP or TCP
// (the first byte's low bit): it never crashes; it answers nothing exactly
// when there is no header to read or the message is a response; otherwise
// its answer is a message ldns reads, with the query's id and QR set, and
// over UDP no larger than the query allows (512 bytes without EDNS0, at most
// kMaxUdpAnswer with it): no amplification. And whatever the wire reader
// of plain queries (the cached answers' path) takes, ldns reads the same:
// one question of that name, type and class, EDNS0 or not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dns/ldns.h"
#include "fuzz_registry.h"

#include "core/clock.h"
#include "core/registry.h"
#include "dns/dns_answerer.h"
#include "dns/dns_name.h"
#include "dns/plain_question.h"

namespace registryd::dns {
namespace {

void Require(bool holds) {
  if (!holds) std::abort();
}

struct Fixture {
  Fixture() : registry(RegistryOptions{}, clock), answerer(registry, DnsOptions{}) {
    AddFuzzInstance(registry, "orders", "web-1", "10.0.0.1", false, {{"weight", "5"}, {"zone", "a"}});
    AddFuzzInstance(registry, "orders", "web-2", "fd00::2", true, {{"note", std::string(300, 'x')}});
    AddFuzzInstance(registry, "orders", "db", "db.example.com", false, {});
    for (int i = 0; i < 40; ++i) {
      AddFuzzInstance(registry, "big", "i-" + std::to_string(i), "10.1.0." + std::to_string(i + 1), false, {});
    }
  }
  ManualClock clock;
  Registry registry;
  DnsAnswerer answerer;
};

}  // namespace
}  // namespace registryd::dns

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace registryd::dns;
  static Fixture* fixture = new Fixture();
  if (size == 0) return 0;
  const bool over_tcp = (data[0] & 1) != 0;
  const std::span<const uint8_t> query(data + 1, size - 1);
  const std::string answer = fixture->answerer.Answer(query, over_tcp);
  if (query.size() < 12 || (query[2] & 0x80) != 0) {
    Require(answer.empty());
    return 0;
  }
  Require(!answer.empty());
  Require(answer.size() <= (over_tcp ? kMaxTcpAnswer : kMaxUdpAnswer));
  ldns_pkt* read = nullptr;
  Require(ldns_wire2pkt(&read, reinterpret_cast<const uint8_t*>(answer.data()), answer.size()) == LDNS_STATUS_OK);
  Require(ldns_pkt_id(read) == (query[0] << 8 | query[1]));
  Require(ldns_pkt_qr(read));
  ldns_pkt_free(read);
  ldns_pkt* asked = nullptr;
  const bool parsed = ldns_wire2pkt(&asked, query.data(), query.size()) == LDNS_STATUS_OK;
  if (parsed && !over_tcp && !ldns_pkt_edns(asked)) Require(answer.size() <= 512);
  if (const std::optional<PlainQuestion> plain = ReadPlainQuestion(query)) {
    Require(parsed && ldns_pkt_qdcount(asked) == 1);
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(asked), 0);
    Require(ldns_rr_get_type(question) == plain->type && ldns_rr_get_class(question) == plain->qclass);
    Require(ldns_pkt_edns(asked) == plain->edns);
    if (plain->edns) Require(ldns_pkt_edns_udp_size(asked) == plain->edns_udp_size);
    const std::unique_ptr<char, decltype(&std::free)> name(ldns_rdf2str(ldns_rr_owner(question)), &std::free);
    Require(name != nullptr && LowerCase(name.get()) == plain->name);
  }
  if (parsed) ldns_pkt_free(asked);
  return 0;
}
