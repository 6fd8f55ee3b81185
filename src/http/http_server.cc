#include "http/http_server.h"

#include <algorithm>

#include <sys/socket.h>

#include <fmt/core.h>

#include "core/host_port.h"
#include "core/log.h"
#include "http/bounded_pool.h"
#include "core/json_text.h"

namespace registryd::http {
namespace {

// An answer is written in pieces of this size, the deadline checked before
// each: the kernel takes a piece in one write once the reader makes room, so
// a connection outlives its deadline by at most one write timeout.
constexpr size_t kAnswerPiece = 16 * 1024;

// Hands `response`'s body to httplib as content written piece by piece
// before `deadline`. HEAD keeps working: httplib asks the provider for the
// bytes it sends. Errors keep their (small) bodies, which httplib's error
// handler reads.
void WriteBeforeDeadline(httplib::Response& response, std::chrono::steady_clock::time_point deadline,
                         std::atomic<uint64_t>& answers_cut) {
  if (response.body.empty() || response.status >= 400) return;
  auto body = std::make_shared<const std::string>(std::move(response.body));
  response.body.clear();
  const std::string content_type = response.get_header_value("Content-Type");
  response.headers.erase("Content-Type");  // set_content_provider sets it again
  response.set_content_provider(
      body->size(), content_type,
      [body, deadline, &answers_cut](size_t offset, size_t length, httplib::DataSink& sink) {
        if (std::chrono::steady_clock::now() >= deadline) {
          answers_cut.fetch_add(1, std::memory_order_relaxed);
          return false;  // httplib closes the connection
        }
        return sink.write(body->data() + offset, std::min(length, kAnswerPiece));
      });
}

std::unique_ptr<httplib::Server> MakeServer(const HttpOptions& options) {
  if (options.tls_cert_file.empty()) return std::make_unique<httplib::Server>();
  return std::make_unique<httplib::SSLServer>(
      options.tls_cert_file.c_str(), options.tls_key_file.c_str(),
      options.tls_client_ca_file.empty() ? nullptr : options.tls_client_ca_file.c_str());
}

}  // namespace

void ReplyJson(httplib::Response& response, std::string body) {
  response.status = 200;
  response.set_header("Cache-Control", "no-store");
  response.set_content(std::move(body), "application/json");
}

void ReplyError(httplib::Response& response, int status, std::string_view message) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_content(JsonError(status, message), "application/json");
}

std::optional<std::string> UnknownParameter(const httplib::Request& request,
                                            std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : request.params) {
    if (std::find(known.begin(), known.end(), name) == known.end()) return name;
  }
  return std::nullopt;
}

HttpServer::HttpServer(HttpOptions options) : options_(std::move(options)), server_(MakeServer(options_)) {
  httplib::Server& server = *server_;
  const size_t threads = options_.threads;
  const size_t max_waiting = options_.max_waiting_connections;
  server.new_task_queue = [threads, max_waiting] { return new BoundedPool(threads, max_waiting); };
  server.set_read_timeout(options_.io_timeout);
  server.set_write_timeout(options_.io_timeout);
  server.set_keep_alive_timeout(options_.keep_alive_timeout.count());
  server.set_payload_max_length(options_.max_request_bytes);
  // Errors the routes did not word themselves (unknown paths, requests
  // httplib refused) get the same JSON body as theirs.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request,
                                                                   httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (response.status) {
      case 404:
        message = "no such path: " + request.path;
        break;
      case 413:
        message = "request too large";
        break;
      case 414:
        message = "request URI too long";
        break;
      case 400:
        message = "malformed request";
        break;
      case 416:
        message = "range not satisfiable";
        break;
      default:
        message = fmt::format("HTTP error {}", response.status);
    }
    ReplyError(response, response.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler([](const httplib::Request& request, httplib::Response& response, std::exception_ptr) {
    log::Error("http: {} {} failed", request.method, request.path);
    ReplyError(response, 500, "internal error");
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, Handler handler) {
  server_->Get(pattern, [this, handler = std::move(handler)](const httplib::Request& request,
                                                               httplib::Response& response) {
    handler(request, response);
    WriteBeforeDeadline(response, std::chrono::steady_clock::now() + options_.answer_deadline, answers_cut_);
  });
  const auto not_allowed = [](const httplib::Request& request, httplib::Response& response) {
    response.set_header("Allow", "GET, HEAD");
    ReplyError(response, 405, fmt::format("method {} not allowed on {}: only GET and HEAD", request.method,
                                          request.path));
  };
  server_->Post(pattern, not_allowed);
  server_->Put(pattern, not_allowed);
  server_->Patch(pattern, not_allowed);
  server_->Delete(pattern, not_allowed);
  server_->Options(pattern, not_allowed);
}

absl::Status HttpServer::Start() {
  if (!server_->is_valid()) {
    return absl::InvalidArgumentError(fmt::format(
        "cannot serve the HTTP face on {} with TLS: are --tls-cert and --tls-key a PEM certificate and its key{}?",
        options_.listen, options_.tls_client_ca_file.empty() ? "" : ", and --tls-client-ca a PEM CA certificate"));
  }
  const std::optional<std::pair<std::string, int>> split = SplitHostPort(options_.listen);
  if (!split) {
    return absl::InvalidArgumentError(
        fmt::format("--http-listen: '{}' is not host:port (e.g. 127.0.0.1:50080 or [::1]:0)", options_.listen));
  }
  const auto& [host, port] = *split;
  // httplib's default socket options set SO_REUSEPORT, which lets another
  // process bind this port beside us; SO_REUSEADDR alone still allows a
  // restart while old connections linger in TIME_WAIT.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return absl::UnavailableError(fmt::format("--http-listen: cannot listen on {}", options_.listen));
  }
  address_ = JoinHostPort(host, bound);
  listener_ = std::thread([this] {
    server_->listen_after_bind();
    listener_done_.store(true, std::memory_order_release);
  });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing before its loop runs: wait for it.
  while (!server_->is_running() && !listener_done_.load(std::memory_order_acquire)) std::this_thread::yield();
  server_->stop();
  listener_.join();
}

}  // namespace registryd::http
