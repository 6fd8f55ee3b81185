// A client that stops reading its answers must not stop registryd's answers
// to everyone else. Its calls' objects stay with them until gRPC has sent
// the answers, which it never does; with a fixed set of objects per method
// (32 per queue), such calls took them all, and every other client's calls of
// that method waited unread in gRPC (server/queue/call_pool.h).
//
// And once those answers have waited unsent past --shed-unread-after, the
// connection is reset, and with it go its calls (server/queue/unsent_answers.h).
//
// The client here speaks HTTP/2 itself and allows no bytes of any answer
// (SETTINGS_INITIAL_WINDOW_SIZE 0), so its calls' answers can never be sent:
// to the server, what a client stopped by SIGSTOP looks like once it has used
// up its window, or one whose connection gRPC does not get to write.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/host_port.h"
#include "metrics/thread_metrics.h"
#include "registry/v1/registry.grpc.pb.h"
#include "test_server.h"

namespace registryd::testing {
namespace {

constexpr uint8_t kData = 0x0, kHeaders = 0x1, kSettings = 0x4;
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;
constexpr uint16_t kInitialWindowSize = 0x4;

// An HTTP/2 connection whose peer may send no DATA on any stream.
class NonReadingClient {
 public:
  explicit NonReadingClient(const std::string& address) {
    const std::optional<std::pair<std::string, int>> host_port = SplitHostPort(address);
    if (!host_port) return;
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(static_cast<uint16_t>(host_port->second));
    inet_pton(AF_INET, host_port->first.c_str(), &server.sin_addr);
    socket_ = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(socket_, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) return;
    std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    Frame(out, kSettings, 0, 0, {0, kInitialWindowSize, 0, 0, 0, 0});
    connected_ = Send(out) && AcknowledgeServerSettings();
  }
  ~NonReadingClient() {
    if (socket_ >= 0) close(socket_);
  }
  bool connected() const { return connected_; }
  // Whether the server closed or reset the connection; reads (and drops)
  // what it sent meanwhile, which grants it no HTTP/2 window.
  bool Closed() {
    for (;;) {
      std::array<uint8_t, 4096> bytes{};
      const ssize_t n = recv(socket_, bytes.data(), bytes.size(), MSG_DONTWAIT);
      if (n > 0) continue;
      return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
  }

  // Starts `count` heartbeats of `lease`, all sent at once.
  bool Heartbeats(int count, uint64_t lease) {
    registry::v1::HeartbeatRequest request;
    request.set_lease_id(lease);
    const std::string message = request.SerializeAsString();
    std::string body(5, '\0');  // gRPC's length-prefixed message: not compressed, 4-byte length
    for (int shift = 0; shift < 4; ++shift) body[4 - shift] = static_cast<char>((message.size() >> (8 * shift)) & 0xff);
    body += message;
    std::string out;
    for (int i = 0; i < count; ++i) {
      std::string headers;
      Literal(headers, ":method", "POST");
      Literal(headers, ":scheme", "http");
      Literal(headers, ":path", "/registry.v1.Registry/Heartbeat");
      Literal(headers, ":authority", "registryd");
      Literal(headers, "content-type", "application/grpc");
      Literal(headers, "te", "trailers");
      Frame(out, kHeaders, kEndHeaders, next_stream_, std::vector<uint8_t>(headers.begin(), headers.end()));
      Frame(out, kData, kEndStream, next_stream_, std::vector<uint8_t>(body.begin(), body.end()));
      next_stream_ += 2;
    }
    return Send(out);
  }

 private:
  static void Frame(std::string& out, uint8_t type, uint8_t flags, uint32_t stream,
                    const std::vector<uint8_t>& payload) {
    const auto length = static_cast<uint32_t>(payload.size());
    const std::array<uint8_t, 9> header = {
        static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length),
        type, flags,
        static_cast<uint8_t>(stream >> 24), static_cast<uint8_t>(stream >> 16), static_cast<uint8_t>(stream >> 8),
        static_cast<uint8_t>(stream)};
    out.append(header.begin(), header.end());
    out.append(payload.begin(), payload.end());
  }
  // HPACK: a literal header field without indexing, new name, no Huffman
  // (every name and value here is under 127 bytes).
  static void Literal(std::string& block, const std::string& name, const std::string& value) {
    block += '\0';
    block += static_cast<char>(name.size());
    block += name;
    block += static_cast<char>(value.size());
    block += value;
  }
  bool Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(socket_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool Receive(void* into, size_t size) {
    auto* bytes = static_cast<uint8_t*>(into);
    size_t got = 0;
    while (got < size) {
      const ssize_t n = recv(socket_, bytes + got, size - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads the server's frames up to its SETTINGS, and acknowledges them; the
  // rest it sends stays unread.
  bool AcknowledgeServerSettings() {
    for (;;) {
      std::array<uint8_t, 9> header{};
      if (!Receive(header.data(), header.size())) return false;
      const size_t length = (size_t{header[0]} << 16) | (size_t{header[1]} << 8) | header[2];
      std::vector<uint8_t> payload(length);
      if (length > 0 && !Receive(payload.data(), length)) return false;
      if (header[3] == kSettings && (header[4] & kAck) == 0) {
        std::string ack;
        Frame(ack, kSettings, kAck, 0, {});
        return Send(ack);
      }
    }
  }

  int socket_ = -1;
  bool connected_ = false;
  uint32_t next_stream_ = 1;
};

// A renewal of `lease` through the test server's own channel.
grpc::Status Renew(TestServer& server, uint64_t lease) {
  registry::v1::HeartbeatRequest request;
  request.set_lease_id(lease);
  registry::v1::HeartbeatResponse reply;
  return server.native().Heartbeat(Context().get(), request, &reply);
}

uint64_t NativeHeartbeats() {
  return metrics::Collect().heartbeats[static_cast<size_t>(metrics::HeartbeatApi::kNative)];
}

TEST(UnsentAnswersTest, AClientThatReadsNoAnswersLeavesTheOthersAnswered) {
  ServerOptions options = TestServerOptions();
  // registryd would close the stalled connection when its ping goes
  // unanswered, and so free its calls: not within this test.
  options.keepalive.ping_interval = std::chrono::minutes(10);
  TestServer server(options);
  const uint64_t lease = RegisterInstance(server.native(), "unsent", "a");
  NonReadingClient stalled(server.server().address());
  ASSERT_TRUE(stalled.connected());

  // Four times the objects a method starts with on all queues: every answer
  // waits forever, and every call is still taken and handled.
  const ServerOptions& served = server.server().options();
  const int calls = 4 * served.calls_per_method * static_cast<int>(served.threads);
  const uint64_t before = NativeHeartbeats();
  ASSERT_TRUE(stalled.Heartbeats(calls, lease));
  EXPECT_TRUE(WaitFor([&] { return NativeHeartbeats() >= before + static_cast<uint64_t>(calls); },
                      std::chrono::seconds(10)))
      << "handled " << NativeHeartbeats() - before << " of the " << calls << " calls whose answers cannot be sent";

  // Another client's renewal of the same lease is answered.
  const grpc::Status status = Renew(server, lease);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

uint64_t ConnectionsResetUnsent() { return metrics::Collect().connections_reset_unsent; }

TEST(UnsentAnswersTest, AConnectionWhoseAnswersWaitPastTheBoundIsResetAndNoOther) {
  ServerOptions options = TestServerOptions();
  options.keepalive.ping_interval = std::chrono::minutes(10);  // as above
  options.shed_unread_after = std::chrono::milliseconds(500);
  TestServer server(options);
  const uint64_t lease = RegisterInstance(server.native(), "unsent", "a");
  NonReadingClient stalled(server.server().address());
  ASSERT_TRUE(stalled.connected());
  const uint64_t reset_before = ConnectionsResetUnsent();

  ASSERT_TRUE(stalled.Heartbeats(8, lease));
  EXPECT_TRUE(WaitFor([&] { return stalled.Closed(); }, std::chrono::seconds(20)))
      << "the connection whose answers cannot be sent is still open";
  ASSERT_TRUE(WaitFor([&] { return ConnectionsResetUnsent() > reset_before; }, std::chrono::seconds(20)));
  // The registering client's connection has been idle as long, its answers
  // all sent: it is kept.
  EXPECT_EQ(ConnectionsResetUnsent(), reset_before + 1);

  // And that client is answered.
  for (int i = 0; i < 3; ++i) {
    const grpc::Status status = Renew(server, lease);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(ConnectionsResetUnsent(), reset_before + 1);
}

}  // namespace
}  // namespace registryd::testing
