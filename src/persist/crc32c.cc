#include "persist/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace registryd {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // reflected Castagnoli

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

#if defined(__x86_64__)
// Built for SSE 4.2 alone, so the rest of the program keeps running on any x86-64.
__attribute__((target("sse4.2"))) uint32_t Crc32cBySse42(std::string_view data) {
  uint64_t crc = 0xffffffff;
  const char* bytes = data.data();
  size_t left = data.size();
  for (; left >= 8; bytes += 8, left -= 8) {
    uint64_t word;
    std::memcpy(&word, bytes, 8);  // unaligned
    crc = _mm_crc32_u64(crc, word);
  }
  auto crc32 = static_cast<uint32_t>(crc);
  for (; left > 0; ++bytes, --left) crc32 = _mm_crc32_u8(crc32, static_cast<unsigned char>(*bytes));
  return crc32 ^ 0xffffffff;
}

const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32cByTable(std::string_view data) {
  uint32_t crc = 0xffffffff;
  for (const unsigned char byte : data) crc = (crc >> 8) ^ kTable[(crc ^ byte) & 0xff];
  return crc ^ 0xffffffff;
}

uint32_t Crc32c(std::string_view data) {
#if defined(__x86_64__)
  if (kHasSse42) return Crc32cBySse42(data);
#endif
  return Crc32cByTable(data);
}

}  // namespace registryd
