// The HTTP face's server on loopback: whole answers reach fast readers
// intact, and a slow reader is cut at the answer deadline so that it does not
// hold the face's thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "http/http_server.h"

namespace registryd::http {
namespace {

using namespace std::chrono_literals;

constexpr size_t kLargeAnswerBytes = 64 * 1024 * 1024;

std::pair<std::string, int> HostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpOptions options) {
    options.listen = "127.0.0.1:0";
    server_.emplace(std::move(options));
    server_->Get("/large", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(std::string(kLargeAnswerBytes, 'x'), "text/plain");
    });
    server_->Get("/small", [](const httplib::Request&, httplib::Response& response) {
      ReplyJson(response, R"({"small":true})");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  httplib::Client Client() {
    const auto [host, port] = HostPort(server_->address());
    httplib::Client client(host, port);
    client.set_read_timeout(60s);
    client.set_connection_timeout(60s);
    return client;
  }

  std::optional<HttpServer> server_;
};

TEST_F(HttpServerTest, AFastReaderGetsTheWholeAnswerAndItsHeaders) {
  Start(HttpOptions{});
  httplib::Client client = Client();

  const httplib::Result small = client.Get("/small");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(small->body, R"({"small":true})");
  EXPECT_EQ(small->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(small->get_header_value_count("Content-Type"), 1u);
  EXPECT_EQ(small->get_header_value("Cache-Control"), "no-store");

  const httplib::Result large = client.Get("/large");
  ASSERT_TRUE(large);
  EXPECT_EQ(large->body.size(), kLargeAnswerBytes);
  EXPECT_EQ(large->get_header_value("Content-Length"), std::to_string(kLargeAnswerBytes));

  const httplib::Result head = client.Head("/small");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("Content-Length"), "14");
  EXPECT_EQ(server_->answers_cut(), 0u);
}

// Reads `GET path` from a socket with a small receive buffer, 4 KiB at a
// time with a pause between (400 KiB/s at most): a reader that keeps taking
// a little, so that each of the server's writes finishes within its write
// timeout and only the whole-answer deadline can end the answer.
struct SlowReader {
  int fd = -1;
  size_t received = 0;

  explicit SlowReader(const std::string& address, const std::string& path) {
    const auto [host, port] = HostPort(address);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    const int small_buffer = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small_buffer, sizeof(small_buffer));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &to.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)), 0);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
    EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  }
  ~SlowReader() { close(fd); }

  // Reads on until the server closes the connection (true), or `give_up`
  // passes (false).
  bool ReadUntilClosed(std::chrono::steady_clock::duration give_up, std::promise<void>& first_bytes) {
    const auto until = std::chrono::steady_clock::now() + give_up;
    char piece[4096];
    bool started = false;
    while (std::chrono::steady_clock::now() < until) {
      const ssize_t got = recv(fd, piece, sizeof(piece), 0);
      if (got <= 0) return true;  // closed (0) or reset (-1)
      received += static_cast<size_t>(got);
      if (!started) {
        started = true;
        first_bytes.set_value();
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

TEST_F(HttpServerTest, ASlowReaderIsCutAtTheAnswerDeadlineAndTheThreadServesOthers) {
  HttpOptions options;
  options.threads = 1;  // the slow reader holds the face's only thread
  options.max_waiting_connections = 4;
  options.answer_deadline = 1s;
  Start(options);

  SlowReader reader(server_->address(), "/large");
  std::promise<void> first_bytes;
  std::future<void> answering = first_bytes.get_future();
  std::future<bool> closed = std::async(std::launch::async, [&] { return reader.ReadUntilClosed(60s, first_bytes); });
  ASSERT_EQ(answering.wait_for(60s), std::future_status::ready) << "the large answer never started";

  // Served once the slow reader's answer is cut: at 400 KiB/s the 64 MiB
  // answer would hold the thread for nearly 3 minutes.
  httplib::Client client = Client();
  const httplib::Result small = client.Get("/small");
  ASSERT_TRUE(small) << "the face's thread never came free";
  EXPECT_EQ(small->status, 200);

  ASSERT_TRUE(closed.get()) << "the slow reader's connection was still open after 60 s";
  EXPECT_LT(reader.received, kLargeAnswerBytes);
  EXPECT_EQ(server_->answers_cut(), 1u);
}

}  // namespace
}  // namespace registryd::http
