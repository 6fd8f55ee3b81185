// Test client for registryd's xDS control plane: gRPC C++ resolving
// xds:///SERVICE through the bootstrap file named by GRPC_XDS_BOOTSTRAP.
// It reads commands on stdin and answers each with one JSON line on stdout
// (logs go to stderr); xds_echo_client.mjs speaks the same protocol:
//
//   calls TARGET N DEADLINE_MS -> N sequential unary calls of /echo.Echo/Who
//     (empty request; the response is the backend's name), each with its own
//     deadline, and the tally
//     {"backends": {"NAME": count}, "errors": {"CODE": count}, "first_error": "..."}
//   quit (or EOF)              -> exit 0
//   anything else              -> {"error": "unknown command"}
//
// A channel is made on a target's first use and kept until exit: the tests
// check that a live channel follows pushed changes and registryd restarts.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Canonical status names, indexed by grpc::StatusCode.
constexpr const char* kCodeNames[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

std::string CodeName(grpc::StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  return index < std::size(kCodeNames) ? kCodeNames[index] : "CODE_" + std::to_string(index);
}

// A JSON string literal. Bytes >= 0x80 pass through: names and details are
// UTF-8 (a backend sending anything else is a test failure either way).
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonCounts(const std::map<std::string, int>& counts) {
  std::string out = "{";
  for (const auto& [key, count] : counts) {
    if (out.size() > 1) out += ", ";
    out += JsonString(key) + ": " + std::to_string(count);
  }
  return out + "}";
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& slice : slices) out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return out;
}

// One blocking unary call. GenericStub's synchronous face is internal to
// gRPC, so this waits on the callback API's completion instead.
grpc::Status Who(grpc::GenericStub& stub, std::chrono::milliseconds deadline, std::string* backend) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  // A zero-length slice, not a default ByteBuffer: that one has no buffer at all.
  const grpc::Slice empty;
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/echo.Echo/Who", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (status.ok()) *backend = ToString(response);
  return status;
}

std::string Calls(grpc::GenericStub& stub, unsigned n, std::chrono::milliseconds deadline) {
  std::map<std::string, int> backends;
  std::map<std::string, int> errors;
  std::string first_error;
  for (unsigned i = 0; i < n; ++i) {
    std::string backend;
    const grpc::Status status = Who(stub, deadline, &backend);
    if (status.ok()) {
      ++backends[backend];
      continue;
    }
    if (errors.empty()) first_error = status.error_message();
    ++errors[CodeName(status.error_code())];
  }
  return "{\"backends\": " + JsonCounts(backends) + ", \"errors\": " + JsonCounts(errors) +
         ", \"first_error\": " + JsonString(first_error) + "}";
}

// A count as the protocol writes it: decimal digits only (no sign).
bool ParseCount(const std::string& word, unsigned* value) {
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), *value);
  return error == std::errc() && end == word.data() + word.size();
}

}  // namespace

int main() {
  // Kept for the life of the process, one per target (see above).
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> stubs;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream stream(line);
    const std::vector<std::string> words{std::istream_iterator<std::string>(stream), {}};
    unsigned n = 0;
    unsigned deadline_ms = 0;
    std::string answer = R"({"error": "unknown command"})";
    if (words.size() == 1 && words[0] == "quit") {
      return 0;
    } else if (words.size() == 4 && words[0] == "calls" && ParseCount(words[2], &n) &&
               ParseCount(words[3], &deadline_ms) && deadline_ms > 0) {
      auto& stub = stubs[words[1]];
      if (!stub) {
        stub = std::make_unique<grpc::GenericStub>(grpc::CreateChannel(words[1], grpc::InsecureChannelCredentials()));
        std::cerr << "xds_echo_client: new channel for " << words[1] << std::endl;
      }
      answer = Calls(*stub, n, std::chrono::milliseconds(deadline_ms));
    }
    std::cout << answer << std::endl;  // endl flushes: the driver waits on each line
  }
  return 0;
}
