#include "dns/plain_question.h"

#include "dns/dns_name.h"

namespace registryd::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kOptType = 41;
constexpr size_t kMaxNameLength = 255;  // RFC 1035, in wire form

uint16_t Read16(std::span<const uint8_t> bytes, size_t at) {
  return static_cast<uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

bool PlainLabelByte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::optional<PlainQuestion> ReadPlainQuestion(std::span<const uint8_t> query) {
  if (query.size() < kHeaderSize) return std::nullopt;
  // QR clear, opcode QUERY; one question, no answer or authority records,
  // at most one additional (the OPT).
  if ((query[2] & 0xf8) != 0 || Read16(query, 4) != 1 || Read16(query, 6) != 0 || Read16(query, 8) != 0 ||
      Read16(query, 10) > 1) {
    return std::nullopt;
  }
  PlainQuestion question;
  size_t at = kHeaderSize;
  for (;;) {
    if (at >= query.size() || at - kHeaderSize >= kMaxNameLength) return std::nullopt;
    const uint8_t length = query[at++];
    if (length == 0) break;
    if (length > 63 || at + length > query.size()) return std::nullopt;  // a pointer, or cut short
    for (size_t i = 0; i < length; ++i) {
      const uint8_t c = query[at + i];
      if (!PlainLabelByte(c)) return std::nullopt;
      question.name.push_back(LowerCase(static_cast<char>(c)));
    }
    question.name.push_back('.');
    at += length;
  }
  if (question.name.empty()) return std::nullopt;  // the root: ldns says what it is
  if (at + 4 > query.size()) return std::nullopt;
  question.type = Read16(query, at);
  question.qclass = Read16(query, at + 2);
  at += 4;
  if (Read16(query, 10) == 1) {
    // The OPT record: the root's name, its type, the UDP size as its class,
    // 4 bytes of flags, then options as code, length, data to its end.
    if (at + 11 > query.size() || query[at] != 0 || Read16(query, at + 1) != kOptType) return std::nullopt;
    question.edns = true;
    question.edns_udp_size = Read16(query, at + 3);
    const size_t end = at + 11 + Read16(query, at + 9);
    if (end > query.size()) return std::nullopt;
    for (at += 11; at < end;) {
      if (at + 4 > end || at + 4 + Read16(query, at + 2) > end) return std::nullopt;
      at += 4 + Read16(query, at + 2);
    }
  }
  if (at != query.size()) return std::nullopt;
  return question;
}

}  // namespace registryd::dns
