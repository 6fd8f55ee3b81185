// The DNS face's sockets and threads (README, DNS): UDP and TCP on one port
// (--dns-listen), each on a thread of its own with an answerer of its own,
// never on the completion-queue threads.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "core/registry.h"
#include "dns/dns_answerer.h"

namespace registryd::dns {

// TCP: connections served at once (more wait in the kernel's backlog); how
// long one may stay idle; how long a reader may take none of an answer
// before its connection is closed.
inline constexpr size_t kMaxTcpConnections = 64;
inline constexpr int kTcpIdleMillis = 10000;
inline constexpr int kTcpWriteMillis = 1000;

class DnsServer {
 public:
  // `authority`: the policy, or null (dns_answerer.h).
  DnsServer(Registry& registry, DnsOptions options, const auth::Authority* authority = nullptr);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds UDP and TCP on options.listen (port 0: a free port both take) and
  // starts serving.
  absl::Status Start();
  void Stop();
  // host:port as bound.
  const std::string& address() const { return address_; }

 private:
  void ServeUdp();
  void ServeTcp();

  Registry& registry_;
  const DnsOptions options_;
  const auth::Authority* const authority_;
  std::string address_;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd: Stop wakes the threads' polls
  std::atomic<bool> stopping_ = false;  // and a UDP thread that never waits sees this
  std::thread udp_thread_;
  std::thread tcp_thread_;
};

}  // namespace registryd::dns
