// What an HTTP face must shrug off, run beside a gRPC measurement: idle
// connections (kept open: each one the server closes for idling is opened
// again) and slow readers (each asks for a large page, then takes it a few
// bytes at a time). The "http-load" target measures registryd with this
// beside it, against plain "registryd": the gRPC port should not notice.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace registryd::bench {

struct HttpLoadOptions {
  int idle_connections = 1000;
  int slow_readers = 1;
  std::string slow_path = "/v1/prometheus/targets";  // every instance: a large answer
};

// A loopback port that listens and never accepts: where "http-load-elsewhere"
// points the same load, to tell its cost in the load generator and the
// kernel from its cost in registryd.
class IdleListener {
 public:
  IdleListener();
  ~IdleListener();
  IdleListener(const IdleListener&) = delete;
  IdleListener& operator=(const IdleListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class HttpLoad {
 public:
  // Starts at once against 127.0.0.1:`port`.
  HttpLoad(int port, HttpLoadOptions options);
  ~HttpLoad();
  HttpLoad(const HttpLoad&) = delete;
  HttpLoad& operator=(const HttpLoad&) = delete;

  // Connections opened so far (the server closes idle ones after its timeout).
  uint64_t connections_opened() const { return opened_.load(); }

 private:
  void KeepIdle();
  void ReadSlowly();
  int Connect();

  const int port_;
  const HttpLoadOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> opened_{0};
  std::vector<std::thread> threads_;
};

}  // namespace registryd::bench
