#include "flags/http_flags.h"

namespace registryd::flags {

void HttpFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("HTTP face", "For operators and their tools: metrics, probes, a dashboard");
  group.add_option("--http-listen", http.listen,
                   "HTTP face for operators: /metrics, /healthz, /readyz, /v1/services (host:port; port 0 picks a "
                   "free one; empty: off). HTTPS with --tls-cert/--tls-key, as the gRPC port")
      ->capture_default_str();
  group.add_option("--http-threads", http.threads, "Threads (and connections served at once) of the HTTP face")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64}));
  AddDuration(group, "--http-answer-deadline", answer_deadline,
              "Time a whole HTTP answer has to reach its reader; past it the connection is closed, so that a "
              "slow reader cannot hold one of the threads",
              std::chrono::milliseconds(100), std::chrono::hours(1));
}

http::HttpOptions HttpFlags::Options(const SecurityFlags& security) const {
  http::HttpOptions options = http;
  options.answer_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(answer_deadline.value);
  options.tls_cert_file = security.tls_cert_file;
  options.tls_key_file = security.tls_key_file;
  options.tls_client_ca_file = security.tls_client_ca_file;
  return options;
}

}  // namespace registryd::flags
