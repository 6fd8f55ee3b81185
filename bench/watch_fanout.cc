// watch: fan-out of one service's changes to many Watch streams. `watchers`
// streams watch one service of `instances_per_service` instances while its
// instances are updated at `rate` changes per second (open loop; each update
// carries its send time in its metadata). Reports the change-to-delivery
// latency over every event every watcher received, the server's memory per
// open stream, and the update calls themselves. registryd's native API only.
// On a cluster the streams watch another node than the one the updates go
// to: the latency is a change's way from one node, through etcd, to another.
#include <atomic>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>
#include <grpcpp/support/async_stream.h>

#include "bench/fanout.h"
#include "bench/scenarios.h"
#include "bench/spawned_server.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

constexpr char kWatchedService[] = "watched";
constexpr char kSentAtKey[] = "sent_at_ns";

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

// Every watcher's stream, read on a thread of its own from one queue.
class Watchers {
 public:
  Watchers(const Connections& connections, int count) {
    for (int i = 0; i < count; ++i) {
      auto stub = registry::v1::Registry::NewStub(connections.channels()[i % connections.channels().size()]);
      auto stream = std::make_unique<Stream>();
      registry::v1::WatchRequest request;
      request.set_service(kWatchedService);
      stream->reader = stub->PrepareAsyncWatch(&stream->context, request, &cq_);
      stream->reader->StartCall(stream.get());
      streams_.push_back(std::move(stream));
    }
    thread_ = std::thread([this] { Drain(); });  // once every stream exists
  }
  // Cancels every stream; the reading thread shuts the queue down once the
  // last one is over (no operation may start on a queue being shut down).
  ~Watchers() {
    stopping_ = true;
    for (const auto& stream : streams_) stream->context.TryCancel();
    thread_.join();
  }

  int snapshots() const { return snapshots_.load(); }
  int ended() const { return ended_.load(); }
  // The latencies of what the streams receive.
  DeliveryLatencies& latencies() { return latencies_; }

 private:
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<registry::v1::WatchResponse>> reader;
    registry::v1::WatchResponse response;
    bool started = false;
  };

  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    std::vector<uint32_t> batch;
    size_t over = 0;  // streams with no operation left
    while (cq_.Next(&tag, &ok)) {
      auto* stream = static_cast<Stream*>(tag);
      if (ok && stream->started) Receive(stream->response, batch);
      stream->started = true;
      if (!ok) ++ended_;
      if (ok && !stopping_) {
        stream->reader->Read(&stream->response, stream);
      } else if (++over == streams_.size()) {
        cq_.Shutdown();
      }
    }
  }

  void Receive(const registry::v1::WatchResponse& response, std::vector<uint32_t>& batch) {
    if (response.snapshot()) ++snapshots_;
    if (!latencies_.measuring()) return;
    const int64_t now = NowNs();
    batch.clear();
    for (const auto& event : response.events()) {
      const auto& metadata = event.instance().metadata();
      const auto sent = metadata.find(kSentAtKey);
      if (sent == metadata.end()) continue;
      int64_t sent_ns = 0;
      std::from_chars(sent->second.data(), sent->second.data() + sent->second.size(), sent_ns);
      batch.push_back(static_cast<uint32_t>(std::max<int64_t>(now - sent_ns, 0) / 1000));
    }
    latencies_.Add(batch);
  }

  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::atomic<int> snapshots_{0};
  std::atomic<int> ended_{0};
  std::atomic<bool> stopping_{false};
  DeliveryLatencies latencies_;
  std::thread thread_;
};

class WatchFanoutScenario final : public Scenario {
 public:
  explicit WatchFanoutScenario(const ScenarioOptions& options) : options_(options) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    Connections connections(*target.channels, target.address, std::max(1, options_.channels));
    std::optional<Connections> elsewhere;
    if (!target.watch_address.empty()) {
      elsewhere.emplace(*target.channels, target.watch_address, std::max(1, options_.channels));
    }
    auto stub = registry::v1::Registry::NewStub(connections.channels().front());
    const int instances = std::max(1, options_.instances_per_service);
    for (int i = 0; i < instances; ++i) Update(*stub, i);

    const uint64_t rss_before = target.pid ? ProcessRssBytes(*target.pid) : 0;
    Watchers watchers(elsewhere ? *elsewhere : connections, options_.watchers);
    if (!WaitUntil([&] { return watchers.snapshots() + watchers.ended() >= options_.watchers; }) ||
        watchers.ended() > 0) {
      throw std::runtime_error(fmt::format("{} of {} watch streams did not start", options_.watchers - watchers.snapshots(),
                                           options_.watchers));
    }
    const uint64_t rss_with_watchers = target.pid ? ProcessRssBytes(*target.pid) : 0;

    auto changer = registry::v1::Registry::NewStub(connections.channels().back());
    FanoutPhases phases = MeasureFanout(
        "watch", target, load, 1000, watchers.latencies(), *changer,
        [&](uint64_t sequence) { return UpdateRequest(static_cast<int>(sequence % instances)); }, options_.watchers,
        rss_before, rss_with_watchers);
    phases.delivery.figures.emplace_back(
        "events_per_change",
        phases.delivery.load.calls / std::max<double>(1, static_cast<double>(phases.changes.load.calls)));
    return {std::move(phases.changes), std::move(phases.delivery)};
  }

 private:
  static registry::v1::RegisterRequest UpdateRequest(int instance) {
    registry::v1::RegisterRequest request;
    request.set_service(kWatchedService);
    request.set_instance_id(fmt::format("w-{}", instance));
    request.set_address(fmt::format("10.1.{}.{}:8080", instance / 250, instance % 250));
    request.set_ttl_ms(600'000);
    (*request.mutable_metadata())[kSentAtKey] = std::to_string(NowNs());
    return request;
  }

  static void Update(registry::v1::Registry::Stub& stub, int instance) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    registry::v1::RegisterResponse reply;
    const grpc::Status status = stub.Register(&context, UpdateRequest(instance), &reply);
    if (!status.ok()) throw std::runtime_error("registering the watched service failed: " + status.error_message());
  }

  ScenarioOptions options_;
};

}  // namespace

std::unique_ptr<Scenario> MakeWatchFanoutScenario(const ScenarioOptions& options) {
  return std::make_unique<WatchFanoutScenario>(options);
}

}  // namespace registryd::bench
