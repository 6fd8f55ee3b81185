// registryd's HTTP face: a small read-only server for operators (probes,
// metrics, JSON views of the registry, the dashboard) on a port of its own,
// served by cpp-httplib on a bounded pool of its own threads (never the
// completion-queue threads). Bounded as an exposed port should be: a pool
// and a queue of waiting connections (bounded_pool.h), read and write
// timeouts, an idle keep-alive timeout, a request size limit, and a
// deadline for each whole answer (a reader that keeps taking a little at a
// time would otherwise hold a thread for as long as it likes).
//
// Routes are GET (HEAD comes with them); any other method on a route's path
// gets 405, an unknown path 404, and every error a JSON body
// (json_text.h). A handler builds its whole reply before it returns, so the
// socket is written after any lock it took is released.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <httplib.h>

#include "absl/status/status.h"

namespace registryd::http {

struct HttpOptions {
  std::string listen = "127.0.0.1:50080";  // host:port, [v6]:port; port 0 picks a free one
  size_t threads = 4;
  size_t max_waiting_connections = 64;
  std::chrono::seconds io_timeout{5};          // a request's read, a reply's write
  std::chrono::seconds keep_alive_timeout{5};  // an idle connection's wait for its next request
  // From a route's answer being ready to its last byte written; past it the
  // connection is closed.
  std::chrono::milliseconds answer_deadline{std::chrono::seconds(30)};
  size_t max_request_bytes = 64 * 1024;
  // HTTPS when set (the gRPC port's files): PEM file paths.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;  // mutual TLS
};

class HttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Before Start. `pattern` is a regular expression the whole path matches.
  void Get(const std::string& pattern, Handler handler);

  // Binds and serves on the pool's threads.
  absl::Status Start();
  void Stop();
  // host:port actually bound (the port filled in when 0 was asked for).
  const std::string& address() const { return address_; }
  bool tls() const { return !options_.tls_cert_file.empty(); }
  // Answers whose connection was closed at the answer deadline.
  uint64_t answers_cut() const { return answers_cut_.load(std::memory_order_relaxed); }

 private:
  const HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::string address_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false};
  std::atomic<uint64_t> answers_cut_{0};  // written by the pool's threads, which Stop() joins
};

// Reply helpers for handlers.
void ReplyJson(httplib::Response& response, std::string body);
void ReplyError(httplib::Response& response, int status, std::string_view message);
// The first query parameter of `request` not in `known`, for a 400.
std::optional<std::string> UnknownParameter(const httplib::Request& request,
                                            std::initializer_list<std::string_view> known);

}  // namespace registryd::http
