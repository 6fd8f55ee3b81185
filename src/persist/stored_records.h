// Between the registry and the records of the data dir: a change (or a
// snapshot's instance) as a stored::Record, and a record applied back to the
// registry on restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "core/change.h"
#include "core/registry.h"

namespace registryd {

// Appends the record of a change, framed, to `out`.
void AppendChangeFrame(std::string& out, const Change& change);
// What a snapshot holds of an instance: its put record, and for an ejected
// one its ejection; appended framed to `out`. Returns how many records.
int AppendInstanceFrames(std::string& out, std::string_view service, const InstanceRecord& instance);
// A snapshot's last record, framed: how many records come before it.
void AppendSnapshotEndFrame(std::string& out, uint64_t records);

// How restored leases are given their fresh TTL.
struct RestoreOptions {
  // Each restored deadline is a fresh TTL plus a uniform delay up to this.
  Duration spread{};
};

struct RestoreCounts {
  uint64_t registered = 0;   // put records applied
  uint64_t removed = 0;      // removals of a restored lease
  uint64_t ejected = 0;
  uint64_t refused = 0;      // records the registry refused (invalid, or over --max-instances)
};

// Applies one record. InvalidArgument for bytes that are not a record (the
// caller decides whether that is damage); a record the registry refuses is
// counted, not an error. A snapshot's end record sets *snapshot_end.
absl::Status ApplyRecord(Registry& registry, std::string_view bytes, const RestoreOptions& options,
                         absl::BitGen& random, RestoreCounts& counts, std::optional<uint64_t>* snapshot_end);

}  // namespace registryd
