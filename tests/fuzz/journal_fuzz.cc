// Arbitrary bytes as a journal never crash recovery, and recovery never
// keeps more than the whole records. Each input is read twice: as a journal
// file (header, framing, checksums, torn tails), and as records framed here
// with valid checksums (a length byte, then that many bytes, repeated), so
// that the fuzzer also reaches the decoding and replay of records behind
// the checksums.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/registry.h"
#include "persist/data_dir.h"
#include "persist/record_file.h"

namespace registryd {
namespace {

RegistryOptions SmallRegistry() {
  RegistryOptions options;
  options.shard_count = 2;  // few shards: a registry per replay stays cheap
  options.wheel_slots = 64;
  options.change_log_capacity = 16;
  options.max_instances = 1000;
  options.first_revision = 1;
  return options;
}

void Replay(std::string_view journal) {
  ManualClock clock;
  Registry registry(SmallRegistry(), clock);
  absl::BitGen random;
  RestoreReport report;
  const absl::StatusOr<size_t> keep =
      ReplayJournal(journal, "fuzz", registry, RestoreOptions{std::chrono::seconds(1)}, random, report);
  if (keep.ok() && *keep > journal.size()) std::abort();  // keeps more bytes than there are
}

}  // namespace
}  // namespace registryd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace registryd;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Replay(input);
  Replay(FileHeader(FileKind::kJournal, 16) + std::string(input));
  std::string framed = FileHeader(FileKind::kJournal, 16);
  for (std::string_view rest = input; !rest.empty();) {
    const size_t length = std::min<size_t>(static_cast<unsigned char>(rest[0]), rest.size() - 1);
    AppendFrame(framed, rest.substr(1, length));
    rest.remove_prefix(1 + length);
  }
  Replay(framed);
  return 0;
}
