// CRC-32C (Castagnoli), the checksum of each record in the data dir: a torn
// or corrupted record does not pass it.
#pragma once

#include <cstdint>
#include <string_view>

namespace registryd {

// With SSE 4.2's crc32 instruction where the processor has it (8 bytes a
// step, about 10x the table's speed), else Crc32cByTable.
uint32_t Crc32c(std::string_view data);
// The same checksum a byte at a time through a table: any processor.
uint32_t Crc32cByTable(std::string_view data);

}  // namespace registryd
