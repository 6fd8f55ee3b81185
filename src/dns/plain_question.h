// The question of a plain query, read straight from the wire: the header of
// a standard query, one question whose name is plain labels (letters,
// digits, '-', '_'), and at most an OPT record after it. A query for an
// answer already cached (answer_cache.h) needs nothing else, so it is
// answered without ldns parsing it or building a packet. Anything else
// (compression, escapes, more records, trailing bytes) is not plain: ldns
// reads it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace registryd::dns {

struct PlainQuestion {
  std::string name;  // presentation form, absolute, lower-case ("orders.service.registryd.")
  uint16_t type = 0;
  uint16_t qclass = 0;
  bool edns = false;
  uint16_t edns_udp_size = 0;  // the OPT record's, when edns
};

std::optional<PlainQuestion> ReadPlainQuestion(std::span<const uint8_t> query);

}  // namespace registryd::dns
