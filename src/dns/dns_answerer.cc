#include "dns/dns_answerer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <cstdlib>
#include <memory>
#include <vector>

#include "dns/ldns.h"

#include "core/validation.h"
#include "dns/dns_name.h"
#include "metrics/thread_metrics.h"

namespace registryd::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kPlainUdpAnswer = 512;
// Members of this many services are kept per answerer; past it they are dropped and read again.
constexpr size_t kMaxCachedServices = 4096;
// Where a service's answers start: at every record of a service of up to
// this many, at this many places spread over a larger one (each a cached
// answer of its own).
constexpr size_t kRotations = 64;

struct PacketFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;
struct RecordFree {
  void operator()(ldns_rr* record) const { ldns_rr_free(record); }
};
using Record = std::unique_ptr<ldns_rr, RecordFree>;
struct NameFree {
  void operator()(ldns_rdf* name) const { ldns_rdf_deep_free(name); }
};
using Name = std::unique_ptr<ldns_rdf, NameFree>;

Name MakeName(const std::string& text) { return Name(ldns_dname_new_frm_str(text.c_str())); }

Record MakeRecord(const ldns_rdf* owner, ldns_rr_type type, uint32_t ttl) {
  Record record(ldns_rr_new());
  ldns_rr_set_owner(record.get(), ldns_rdf_clone(owner));
  ldns_rr_set_type(record.get(), type);
  ldns_rr_set_class(record.get(), LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(record.get(), ttl);
  return record;
}

// An A or AAAA record of `host`, or none when it is not an address of that family.
Record AddressRecord(const ldns_rdf* owner, std::string_view host, ldns_rr_type type, uint32_t ttl) {
  const std::string text(host);
  unsigned char bytes[16];
  const bool v4 = type == LDNS_RR_TYPE_A;
  if (inet_pton(v4 ? AF_INET : AF_INET6, text.c_str(), bytes) != 1) return nullptr;
  Record record = MakeRecord(owner, type, ttl);
  ldns_rr_push_rdf(record.get(), ldns_rdf_new_frm_data(v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, v4 ? 4 : 16, bytes));
  return record;
}

// TXT of one metadata entry as "key=value", in character-strings of at most 255 bytes.
Record TextRecord(const ldns_rdf* owner, const std::string& key, const std::string& value, uint32_t ttl) {
  const std::string text = key + "=" + value;
  Record record = MakeRecord(owner, LDNS_RR_TYPE_TXT, ttl);
  for (size_t at = 0; at == 0 || at < text.size(); at += 255) {
    const size_t size = std::min<size_t>(255, text.size() - at);
    std::string piece(1, static_cast<char>(size));
    piece.append(text, at, size);
    ldns_rr_push_rdf(record.get(), ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, piece.size(), piece.data()));
  }
  return record;
}

// The SRV weight of an instance of weight `weight` (1..kMaxWeight): 256
// times it, less one. HAProxy takes an SRV weight w as its server weight
// w / 256 + 1, so it sees `weight` itself; RFC 2782 clients, which weigh the
// records against each other, see the proportions within 0.4%.
uint16_t SrvWeight(uint32_t weight) { return static_cast<uint16_t>(weight * 256 - 1); }

// The size an answer must fit: a TCP answer's maximum; over UDP 512 bytes,
// or the size an EDNS0 query advertised, within kMaxUdpAnswer.
size_t AnswerLimit(bool over_tcp, bool edns, uint16_t edns_udp_size) {
  if (over_tcp) return kMaxTcpAnswer;
  return edns ? std::clamp<size_t>(edns_udp_size, kPlainUdpAnswer, kMaxUdpAnswer) : kPlainUdpAnswer;
}

std::string Wire(const ldns_pkt* packet, uint64_t& serialized) {
  ++serialized;
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, packet, &size) != LDNS_STATUS_OK) return {};
  std::string bytes(reinterpret_cast<const char*>(wire), size);
  std::free(wire);
  return bytes;
}

// What an answer holds before it is fitted to the transport's limit.
struct Sections {
  ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR;
  bool authoritative = true;
  std::vector<Record> answer;
  std::vector<Record> authority;
  std::vector<Record> additional;
};

}  // namespace

DnsAnswerer::DnsAnswerer(Registry& registry, const DnsOptions& options, const auth::Authority* authority)
    : registry_(registry),
      options_(options),
      authority_(authority),
      ttl_seconds_(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(options.ttl).count())) {}

const BalancedMembers& DnsAnswerer::Members(const std::string& service) {
  auto found = members_.find(service);
  if (found != members_.end() && found->second.revision == registry_.ServiceRevision(service)) return found->second;
  if (found == members_.end() && members_.size() >= kMaxCachedServices) members_.clear();
  BalancedMembers& members = members_[service];
  members = ReadBalancedMembers(registry_, service, {.with_metadata = true});
  return members;
}

bool DnsAnswerer::MayRead(const std::string& service) {
  if (authority_ == nullptr) return true;
  if (anonymous_ == nullptr || anonymous_generation_ != authority_->generation()) {
    const std::shared_ptr<const auth::Authority::Snapshot> snapshot = authority_->Current();
    anonymous_ = snapshot->CallerFor("");
    anonymous_generation_ = snapshot->generation;
  }
  return anonymous_->CanRead(service);
}

std::string DnsAnswerer::Answer(std::span<const uint8_t> query_wire, bool over_tcp) {
  asked_type_ = 0;
  std::string answer = Respond(query_wire, over_tcp);
  Count(answer, over_tcp);
  return answer;
}

void DnsAnswerer::Count(const std::string& answer, bool over_tcp) {
  size_t type = metrics::kDnsTypes.size() - 1;  // other
  switch (asked_type_) {
    case LDNS_RR_TYPE_A: type = 0; break;
    case LDNS_RR_TYPE_AAAA: type = 1; break;
    case LDNS_RR_TYPE_SRV: type = 2; break;
    case LDNS_RR_TYPE_TXT: type = 3; break;
    case LDNS_RR_TYPE_SOA: type = 4; break;
    case LDNS_RR_TYPE_ANY: type = 5; break;
    default: break;
  }
  size_t outcome = 6;  // dropped
  if (answer.size() >= kHeaderSize) {
    const bool records = answer[6] != 0 || answer[7] != 0;
    switch (answer[3] & 0x0f) {
      case LDNS_RCODE_NOERROR: outcome = records ? 0 : 1; break;
      case LDNS_RCODE_NXDOMAIN: outcome = 2; break;
      case LDNS_RCODE_REFUSED: outcome = 3; break;
      case LDNS_RCODE_FORMERR: outcome = 4; break;
      case LDNS_RCODE_NOTIMPL: outcome = 5; break;
      default: return;  // none other is made
    }
    if (!over_tcp && (answer[2] & 0x02) != 0) metrics::Local().dns_truncated.Add();
  }
  metrics::Local().dns_queries[type][outcome].Add();
}

std::optional<std::string> DnsAnswerer::FromCache(const PlainQuestion& question, std::span<const uint8_t> query,
                                                   bool over_tcp) {
  if (question.qclass != LDNS_RR_CLASS_IN && question.qclass != LDNS_RR_CLASS_ANY) return std::nullopt;
  const QueryName name = ParseQueryName(question.name, options_.domain);
  if ((name.kind != NameKind::kService && name.kind != NameKind::kInstance) || !MayRead(name.service)) {
    return std::nullopt;
  }
  const BalancedMembers& read = Members(name.service);
  std::optional<std::string> answer =
      cache_.Find({question.name, question.type, question.qclass,
                   static_cast<uint32_t>(AnswerLimit(over_tcp, question.edns, question.edns_udp_size)),
                   question.edns, NextRotation(read.members.size())},
                  read.revision, query);
  if (answer) Rotate();
  return answer;
}

std::string DnsAnswerer::Respond(std::span<const uint8_t> query_wire, bool over_tcp) {
  if (query_wire.size() < kHeaderSize || (query_wire[2] & 0x80) != 0) return {};  // no header, or a response
  if (const std::optional<PlainQuestion> plain = ReadPlainQuestion(query_wire)) {
    asked_type_ = plain->type;
    if (std::optional<std::string> answer = FromCache(*plain, query_wire, over_tcp)) return *std::move(answer);
  }
  ldns_pkt* parsed = nullptr;
  const ldns_status status = ldns_wire2pkt(&parsed, query_wire.data(), query_wire.size());
  const Packet query(parsed);
  Packet reply(ldns_pkt_new());
  ldns_pkt_set_id(reply.get(), static_cast<uint16_t>(query_wire[0] << 8 | query_wire[1]));
  ldns_pkt_set_qr(reply.get(), true);
  ldns_pkt_set_opcode(reply.get(), static_cast<ldns_pkt_opcode>((query_wire[2] >> 3) & 0x0f));
  ldns_pkt_set_rd(reply.get(), (query_wire[2] & 0x01) != 0);
  if (status != LDNS_STATUS_OK || ldns_pkt_qdcount(query.get()) != 1) {
    ldns_pkt_set_rcode(reply.get(), LDNS_RCODE_FORMERR);
    return Wire(reply.get(), serialized_);
  }
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(query.get()), 0);
  ldns_pkt_push_rr(reply.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  const bool edns = ldns_pkt_edns(query.get());
  if (edns) ldns_pkt_set_edns_udp_size(reply.get(), kMaxUdpAnswer);
  const size_t limit = AnswerLimit(over_tcp, edns, ldns_pkt_edns_udp_size(query.get()));
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_QUERY) {
    ldns_pkt_set_rcode(reply.get(), LDNS_RCODE_NOTIMPL);
    return Wire(reply.get(), serialized_);
  }

  const ldns_rdf* owner = ldns_rr_owner(question);
  const ldns_rr_type type = ldns_rr_get_type(question);
  asked_type_ = type;
  const std::unique_ptr<char, decltype(&std::free)> owner_text(ldns_rdf2str(owner), &std::free);
  const QueryName name = ldns_rr_get_class(question) == LDNS_RR_CLASS_IN || ldns_rr_get_class(question) ==
                                                                               LDNS_RR_CLASS_ANY
                             ? ParseQueryName(owner_text ? owner_text.get() : "", options_.domain)
                             : QueryName{NameKind::kOutside, {}, {}};
  Sections sections;
  const auto soa = [&] {
    const Name apex = MakeName(options_.domain);
    Record record = MakeRecord(apex.get(), LDNS_RR_TYPE_SOA, ttl_seconds_);
    ldns_rr_push_rdf(record.get(), MakeName("ns." + options_.domain).release());
    ldns_rr_push_rdf(record.get(), MakeName("hostmaster." + options_.domain).release());
    ldns_rr_push_rdf(record.get(), ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, static_cast<uint32_t>(registry_.Revision())));
    for (const uint32_t seconds : {3600u, 600u, 86400u}) {
      ldns_rr_push_rdf(record.get(), ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, seconds));
    }
    ldns_rr_push_rdf(record.get(), ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, ttl_seconds_));  // negative answers
    return record;
  };
  const bool any = type == LDNS_RR_TYPE_ANY;
  NameKind kind = name.kind;
  // Where the policy gives anonymous callers nothing, as outside the domain.
  if ((kind == NameKind::kService || kind == NameKind::kInstance) && !MayRead(name.service)) {
    kind = NameKind::kOutside;
  }
  const BalancedMembers* read = nullptr;
  uint32_t rotation = 0;
  std::optional<AnswerCache::Key> cached_as;
  if (kind == NameKind::kService || kind == NameKind::kInstance) {
    read = &Members(name.service);
    rotation = NextRotation(read->members.size());
    Rotate();
    cached_as = AnswerCache::Key{LowerCase(owner_text ? owner_text.get() : ""), static_cast<uint16_t>(type),
                                 static_cast<uint16_t>(ldns_rr_get_class(question)),
                                 static_cast<uint32_t>(limit), edns, rotation};
    if (std::optional<std::string> answer = cache_.Find(*cached_as, read->revision, query_wire)) return *answer;
  }
  switch (kind) {
    case NameKind::kOutside:
      sections.rcode = LDNS_RCODE_REFUSED;
      sections.authoritative = false;
      break;
    case NameKind::kUnknown:
      sections.rcode = LDNS_RCODE_NXDOMAIN;
      break;
    case NameKind::kApex:
      if (type == LDNS_RR_TYPE_SOA || any) sections.answer.push_back(soa());
      break;
    case NameKind::kEmpty:
      break;
    case NameKind::kService: {
      if (read->members.empty()) {
        sections.rcode = LDNS_RCODE_NXDOMAIN;
        break;
      }
      for (const BalancedMember& member : read->members) {
        if (type == LDNS_RR_TYPE_SRV || any) {
          // An instance with an address is named under the domain (its
          // A/AAAA go in the additional section); one whose host is a name
          // points there.
          const bool addressed = IsIpLiteral(member.host);
          if (addressed && !IsDnsLabel(member.instance_id)) continue;  // no name to give its address
          const Name target = addressed
                                  ? MakeName(member.instance_id + "." + name.service + ".instance." + options_.domain)
                                  : MakeName(member.host.back() == '.' ? member.host : member.host + ".");
          if (target == nullptr) continue;
          Record record = MakeRecord(owner, LDNS_RR_TYPE_SRV, ttl_seconds_);
          ldns_rr_push_rdf(record.get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, static_cast<uint16_t>(member.priority)));
          ldns_rr_push_rdf(record.get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, SrvWeight(member.weight)));
          ldns_rr_push_rdf(record.get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, member.port));
          ldns_rr_push_rdf(record.get(), ldns_rdf_clone(target.get()));
          sections.answer.push_back(std::move(record));
          if (addressed) {
            for (const ldns_rr_type family : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
              if (Record address = AddressRecord(target.get(), member.host, family, ttl_seconds_)) {
                sections.additional.push_back(std::move(address));
              }
            }
          }
        } else if ((type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA) && member.priority == 0) {
          if (Record address = AddressRecord(owner, member.host, type, ttl_seconds_)) {
            sections.answer.push_back(std::move(address));
          }
        }
      }
      break;
    }
    case NameKind::kInstance: {
      const auto member = std::find_if(read->members.begin(), read->members.end(),
                                       [&](const BalancedMember& m) { return m.instance_id == name.instance; });
      if (member == read->members.end()) {
        sections.rcode = LDNS_RCODE_NXDOMAIN;
        break;
      }
      for (const ldns_rr_type family : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
        if (type != family && !any) continue;
        if (Record address = AddressRecord(owner, member->host, family, ttl_seconds_)) {
          sections.answer.push_back(std::move(address));
        }
      }
      if (type == LDNS_RR_TYPE_TXT || any) {
        for (const auto& [key, value] : member->metadata) sections.answer.push_back(TextRecord(owner, key, value, ttl_seconds_));
      }
      break;
    }
  }
  if (sections.rcode == LDNS_RCODE_NXDOMAIN || (sections.rcode == LDNS_RCODE_NOERROR && sections.answer.empty())) {
    sections.authority.push_back(soa());  // NXDOMAIN, or NODATA: the SOA says how long to remember it
  }
  // Clients that take the first record spread their load.
  if (sections.answer.size() > 1) {
    std::rotate(sections.answer.begin(), sections.answer.begin() + rotation % sections.answer.size(),
                sections.answer.end());
  }

  ldns_pkt_set_rcode(reply.get(), sections.rcode);
  ldns_pkt_set_aa(reply.get(), sections.authoritative);
  // The largest answer that fits: every section; else without the
  // additional data; else as many whole answer records as fit, TC set.
  const auto build = [&](size_t answers, bool with_additional) {
    Packet candidate(ldns_pkt_clone(reply.get()));
    for (size_t i = 0; i < answers; ++i) {
      ldns_pkt_push_rr(candidate.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(sections.answer[i].get()));
    }
    for (const Record& record : sections.authority) {
      ldns_pkt_push_rr(candidate.get(), LDNS_SECTION_AUTHORITY, ldns_rr_clone(record.get()));
    }
    if (with_additional) {
      for (const Record& record : sections.additional) {
        ldns_pkt_push_rr(candidate.get(), LDNS_SECTION_ADDITIONAL, ldns_rr_clone(record.get()));
      }
    }
    ldns_pkt_set_tc(candidate.get(), answers < sections.answer.size());
    return Wire(candidate.get(), serialized_);
  };
  std::string answer = build(sections.answer.size(), true);
  if (answer.size() > limit) answer = build(sections.answer.size(), false);
  if (answer.size() > limit) {
    size_t low = 0;                        // fits
    size_t high = sections.answer.size();  // does not
    answer = build(0, false);
    while (high - low > 1) {
      const size_t middle = (low + high) / 2;
      std::string candidate = build(middle, false);
      if (candidate.size() <= limit) {
        low = middle;
        answer = std::move(candidate);
      } else {
        high = middle;
      }
    }
  }
  // Negative answers carry the SOA, whose serial is the whole registry's
  // revision: they are built each time (they are small).
  if (cached_as && !sections.answer.empty()) cache_.Store(*std::move(cached_as), read->revision, answer);
  return answer;
}

uint32_t DnsAnswerer::NextRotation(size_t records) const {
  // A large service's answers start at one of kRotations places spread over it.
  const uint64_t turn = rotation_;
  if (records <= kRotations) return static_cast<uint32_t>(turn % std::max<size_t>(records, 1));
  return static_cast<uint32_t>(turn % kRotations * records / kRotations);
}

}  // namespace registryd::dns
