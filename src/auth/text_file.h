// The policy and token files: protobuf text format, read with the locations
// of every field, so that each error names file:line:column (1-based).
#pragma once

#include <cstddef>
#include <string_view>

#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include "absl/status/status.h"

namespace registryd::auth {

// Bigger files are refused before parsing: a hand-written file is far smaller.
inline constexpr size_t kMaxTextFileBytes = 1 << 20;

using FieldLocations = google::protobuf::TextFormat::ParseInfoTree;
using TextLocation = google::protobuf::TextFormat::ParseLocation;  // 0-based; line -1: unknown

// Parses `text` into `message` (unknown fields are errors), recording where
// each field is in `locations`. INVALID_ARGUMENT "file:line:column: why".
absl::Status ParseTextFile(std::string_view text, std::string_view file_name,
                           google::protobuf::Message& message, FieldLocations& locations);

// Where the index-th value of `field` is (index -1 for a singular field).
// A list (`permission: [READ, ADMIN]`) records only where it starts, so the
// first value's location stands in for the others; then `otherwise`.
TextLocation LocationOf(const FieldLocations* locations, const google::protobuf::FieldDescriptor* field,
                        int index, TextLocation otherwise = {});

// INVALID_ARGUMENT "file:line:column: what" (without the position when it is
// unknown).
absl::Status ErrorAt(std::string_view file_name, TextLocation location, std::string_view what);

}  // namespace registryd::auth
