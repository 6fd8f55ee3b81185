// CRC-32C (Castagnoli), the checksum of each record in the data dir: a torn
// or corrupted record does not pass it.
#pragma once

#include <cstdint>
#include <string_view>

namespace registryd {

uint32_t Crc32c(std::string_view data);

}  // namespace registryd
