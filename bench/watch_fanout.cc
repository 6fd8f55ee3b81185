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

#include "bench/scenarios.h"
#include "bench/spawned_server.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

constexpr char kWatchedService[] = "watched";
constexpr char kSentAtKey[] = "sent_at_ns";
constexpr auto kSetupTimeout = std::chrono::seconds(60);

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
  // From now on, record each event's latency.
  void StartMeasuring() { measuring_ = true; }
  // The latencies recorded so far, and the count of events; stops recording.
  LoadResult Stop(double seconds) {
    measuring_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    LoadResult result;
    result.seconds = seconds;
    result.latencies_us = std::move(latencies_us_);
    result.calls = result.latencies_us.size();
    result.SortLatencies();
    return result;
  }

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
    if (!measuring_) return;
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
    std::lock_guard<std::mutex> lock(mu_);
    latencies_us_.insert(latencies_us_.end(), batch.begin(), batch.end());
  }

  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::atomic<int> snapshots_{0};
  std::atomic<int> ended_{0};
  std::atomic<bool> measuring_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<uint32_t> latencies_us_;
  std::thread thread_;
};

bool WaitUntil(const std::function<bool()>& condition) {
  const auto give_up = Clock::now() + kSetupTimeout;
  while (!condition()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

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

    LoadOptions changes = load;
    if (changes.rate <= 0) changes.rate = 1000;
    auto changer = registry::v1::Registry::NewStub(connections.channels().back());
    std::thread start_measuring([&] {
      std::this_thread::sleep_for(load.warmup);
      watchers.StartMeasuring();
    });
    Phase updates = MeasurePhase(
        "watch-changes",
        [&](uint64_t sequence, grpc::CompletionQueue* cq) {
          auto call = std::make_unique<PendingUnary<registry::v1::RegisterResponse>>();
          const registry::v1::RegisterRequest request = UpdateRequest(static_cast<int>(sequence % instances));
          call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
            return changer->AsyncRegister(context, request, queue);
          }, cq);
          return call;
        },
        changes, target);
    start_measuring.join();
    // Events of the last changes are still on their way: a moment for them.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Phase delivery{"watch-delivery", watchers.Stop(updates.load.seconds), {}, {}, {}};
    delivery.figures.emplace_back("watchers", options_.watchers);
    delivery.figures.emplace_back("changes_per_s", updates.load.CallsPerSecond());
    delivery.figures.emplace_back("events_per_change",
                                  delivery.load.calls / std::max<double>(1, static_cast<double>(updates.load.calls)));
    if (updates.cpu_seconds) {
      delivery.figures.emplace_back("cpu_per_change_and_stream_us",
                                    *updates.cpu_seconds * 1e6 /
                                        std::max<double>(1, static_cast<double>(updates.load.calls)) /
                                        options_.watchers);
    }
    if (target.pid) {
      delivery.figures.emplace_back(
          "rss_per_watcher_bytes",
          (static_cast<double>(rss_with_watchers) - static_cast<double>(rss_before)) / options_.watchers);
      delivery.peak_rss = ProcessPeakRssBytes(*target.pid);
    }
    return {std::move(updates), std::move(delivery)};
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
