#include "auth/text_file.h"

#include <string>

#include <fmt/core.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace registryd::auth {
namespace {

// Keeps the first error: the ones after it follow from it.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstError(std::string_view file_name) : file_name_(file_name) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (status_.ok()) status_ = ErrorAt(file_name_, TextLocation(line, column), message);
  }

  const absl::Status& status() const { return status_; }

 private:
  std::string_view file_name_;
  absl::Status status_;
};

}  // namespace

absl::Status ParseTextFile(std::string_view text, std::string_view file_name,
                           google::protobuf::Message& message, FieldLocations& locations) {
  if (text.size() > kMaxTextFileBytes) {
    return absl::InvalidArgumentError(fmt::format("{}: is {} bytes; a policy or token file may have at most {} (1 MiB)",
                                                  file_name, text.size(), kMaxTextFileBytes));
  }
  FirstError errors(file_name);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locations);
  google::protobuf::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  if (!parser.Parse(&input, &message)) {
    if (!errors.status().ok()) return errors.status();
    return absl::InvalidArgumentError(fmt::format("{}: not a valid protobuf text-format file", file_name));
  }
  return absl::OkStatus();
}

TextLocation LocationOf(const FieldLocations* locations, const google::protobuf::FieldDescriptor* field,
                        int index, TextLocation otherwise) {
  if (locations == nullptr) return otherwise;
  if (const TextLocation location = locations->GetLocation(field, index); location.line >= 0) return location;
  if (index > 0) {
    if (const TextLocation location = locations->GetLocation(field, 0); location.line >= 0) return location;
  }
  return otherwise;
}

absl::Status ErrorAt(std::string_view file_name, TextLocation location, std::string_view what) {
  if (location.line < 0) return absl::InvalidArgumentError(fmt::format("{}: {}", file_name, what));
  // protobuf counts from 0; editors and users from 1.
  return absl::InvalidArgumentError(fmt::format("{}:{}:{}: {}", file_name, location.line + 1, location.column + 1, what));
}

}  // namespace registryd::auth
