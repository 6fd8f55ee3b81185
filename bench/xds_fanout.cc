// xds: fan-out of one service's changes to many ADS streams, as gRPC's xDS
// clients hold them. `watchers` streams subscribe to the ClusterLoadAssignment
// of one service of `instances_per_service` instances (each ACKs every
// response, as gRPC's clients do) while the bench updates those instances at
// `rate` changes per second (open loop). An update moves its instance to an
// address that encodes the update's sequence number (10.a.b.c), so a stream
// that receives an assignment knows the newest change it reflects: every
// change up to it, not yet seen by that stream, counts as delivered then
// (state of the world: a push carries the service's whole state, and changes
// that came during a write go out together in the next one). Reports the
// change-to-update latency over every change every stream received, the
// server's memory per open stream, and its CPU per change and stream (the
// watch scenario reports the same, for the comparison). Not etcd, which has
// no ADS.
#include <atomic>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/core.h>
#include <grpcpp/support/async_stream.h>

#include "bench/fanout.h"
#include "bench/scenarios.h"
#include "bench/spawned_server.h"
#include "envoy/discovery.grpc.pb.h"
#include "envoy/endpoint.pb.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr char kService[] = "xds-bench";
constexpr char kLoadAssignmentType[] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
constexpr uint64_t kSentSlots = 1 << 20;  // send times kept, by sequence

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

// The update with sequence `sequence` (from 1) puts its instance at 10.a.b.c.
std::string AddressOf(uint64_t sequence) {
  return fmt::format("10.{}.{}.{}:8080", (sequence >> 16) & 255, (sequence >> 8) & 255, sequence & 255);
}
// The sequence an endpoint's address encodes; 0 for the instances' first addresses (11.0.0.x).
uint64_t SequenceOf(const std::string& host) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (std::sscanf(host.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a != 10) return 0;
  return (uint64_t{b} << 16) | (uint64_t{c} << 8) | d;
}

// The first request names the client; ACKs do not (as gRPC's clients do).
DiscoveryRequest Subscription(const std::string& nonce, const std::string& version) {
  DiscoveryRequest request;
  if (nonce.empty()) request.mutable_node()->set_id("registry_bench");
  request.set_type_url(kLoadAssignmentType);
  request.add_resource_names(kService);
  request.set_response_nonce(nonce);
  request.set_version_info(version);
  return request;
}

// Every stream, on one completion queue read by one thread.
class AdsStreams {
 public:
  AdsStreams(const Connections& connections, int count, const std::vector<std::atomic<int64_t>>& sent_ns)
      : sent_ns_(sent_ns) {
    for (int i = 0; i < count; ++i) {
      auto stub = AggregatedDiscoveryService::NewStub(connections.channels()[i % connections.channels().size()]);
      auto stream = std::make_unique<Stream>();
      stream->stream = stub->PrepareAsyncStreamAggregatedResources(&stream->context, &cq_);
      stream->pending = 1;
      stream->stream->StartCall(&stream->started);
      streams_.push_back(std::move(stream));
    }
    thread_ = std::thread([this] { Drain(); });
  }
  // Cancels every stream; the thread shuts the queue down once no operation is left.
  ~AdsStreams() {
    stopping_ = true;
    for (const auto& stream : streams_) stream->context.TryCancel();
    thread_.join();
  }

  int answered() const { return answered_.load(); }
  int ended() const { return ended_.load(); }
  // The latencies of what the streams receive.
  DeliveryLatencies& latencies() { return latencies_; }
  // Responses received while measuring.
  uint64_t responses() const { return responses_.load(); }

 private:
  enum class Step { kStarted, kRead, kWritten };
  struct Stream;
  struct Tag {
    Stream* stream;
    Step step;
  };
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream;
    DiscoveryResponse response;
    DiscoveryRequest request;
    std::optional<DiscoveryRequest> next_request;  // an ACK waiting for the write before it
    bool writing = false;
    int pending = 0;  // operations under way
    bool failed = false;
    bool answered = false;
    uint64_t seen = 0;  // the newest change received
    Tag started{this, Step::kStarted};
    Tag read{this, Step::kRead};
    Tag written{this, Step::kWritten};
  };

  void Write(Stream& stream, DiscoveryRequest request) {
    if (stream.writing) {
      stream.next_request = std::move(request);
      return;
    }
    stream.request = std::move(request);
    stream.writing = true;
    ++stream.pending;
    stream.stream->Write(stream.request, &stream.written);
  }
  void Read(Stream& stream) {
    ++stream.pending;
    stream.stream->Read(&stream.response, &stream.read);
  }

  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    size_t over = 0;  // streams with no operation left
    while (cq_.Next(&tag, &ok)) {
      Tag& step = *static_cast<Tag*>(tag);
      Stream& stream = *step.stream;
      --stream.pending;
      if (!ok && !stream.failed) {
        stream.failed = true;
        ++ended_;
      }
      const bool going = ok && !stopping_ && !stream.failed;
      if (going) {
        switch (step.step) {
          case Step::kStarted:
            Write(stream, Subscription("", ""));
            Read(stream);
            break;
          case Step::kRead:
            Receive(stream);
            Write(stream, Subscription(stream.response.nonce(), stream.response.version_info()));
            Read(stream);
            break;
          case Step::kWritten:
            stream.writing = false;
            if (stream.next_request) {
              DiscoveryRequest next = std::move(*stream.next_request);
              stream.next_request.reset();
              Write(stream, std::move(next));
            }
            break;
        }
      }
      if (stream.pending == 0 && !going && ++over == streams_.size()) cq_.Shutdown();
    }
  }

  void Receive(Stream& stream) {
    if (latencies_.measuring()) ++responses_;
    uint64_t newest = 0;
    for (const auto& resource : stream.response.resources()) {
      envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
      if (!resource.UnpackTo(&assignment)) continue;
      for (const auto& locality : assignment.endpoints()) {
        for (const auto& endpoint : locality.lb_endpoints()) {
          newest = std::max(newest, SequenceOf(endpoint.endpoint().address().socket_address().address()));
        }
      }
    }
    if (!stream.answered) {
      stream.answered = true;
      ++answered_;
    }
    if (newest <= stream.seen) return;
    const uint64_t from = stream.seen;
    stream.seen = newest;
    if (!latencies_.measuring() || from == 0) return;  // before measuring, or the first state a stream got
    const int64_t now = NowNs();
    std::vector<uint32_t> batch;
    for (uint64_t sequence = from + 1; sequence <= newest; ++sequence) {
      const int64_t sent = sent_ns_[sequence % kSentSlots].load(std::memory_order_relaxed);
      if (sent != 0) batch.push_back(static_cast<uint32_t>(std::max<int64_t>(now - sent, 0) / 1000));
    }
    latencies_.Add(batch);
  }

  const std::vector<std::atomic<int64_t>>& sent_ns_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::atomic<int> answered_{0};
  std::atomic<int> ended_{0};
  std::atomic<uint64_t> responses_{0};
  std::atomic<bool> stopping_{false};
  DeliveryLatencies latencies_;
  std::thread thread_;
};

class XdsFanoutScenario final : public Scenario {
 public:
  explicit XdsFanoutScenario(const ScenarioOptions& options) : options_(options), sent_ns_(kSentSlots) {}

  std::vector<Phase> Run(const Target& target, const LoadOptions& load) override {
    Connections connections(*target.channels, target.address, std::max(1, options_.channels));
    auto stub = registry::v1::Registry::NewStub(connections.channels().front());
    const int instances = std::max(1, options_.instances_per_service);
    for (int i = 0; i < instances; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      registry::v1::RegisterResponse reply;
      const grpc::Status status =
          stub->Register(&context, Update(i, fmt::format("11.0.{}.{}:8080", i / 250, i % 250)), &reply);
      if (!status.ok()) throw std::runtime_error("registering the xDS service failed: " + status.error_message());
    }

    const uint64_t rss_before = target.pid ? ProcessRssBytes(*target.pid) : 0;
    AdsStreams streams(connections, options_.watchers, sent_ns_);
    if (!WaitUntil([&] { return streams.answered() + streams.ended() >= options_.watchers; }) ||
        streams.ended() > 0) {
      throw std::runtime_error(fmt::format("{} of {} ADS streams got no ClusterLoadAssignment",
                                           options_.watchers - streams.answered(), options_.watchers));
    }
    const uint64_t rss_with_streams = target.pid ? ProcessRssBytes(*target.pid) : 0;

    auto changer = registry::v1::Registry::NewStub(connections.channels().back());
    FanoutPhases phases = MeasureFanout(
        "xds", target, load, 100, streams.latencies(), *changer,
        [&](uint64_t sequence) {
          const uint64_t change = sequence + 1;
          sent_ns_[change % kSentSlots].store(NowNs(), std::memory_order_relaxed);
          return Update(static_cast<int>(sequence % instances), AddressOf(change));
        },
        options_.watchers, rss_before, rss_with_streams);
    phases.delivery.figures.emplace_back(
        "pushes_per_change",
        static_cast<double>(streams.responses()) / std::max<double>(1, static_cast<double>(phases.changes.load.calls)));
    return {std::move(phases.changes), std::move(phases.delivery)};
  }

 private:
  static registry::v1::RegisterRequest Update(int instance, const std::string& address) {
    registry::v1::RegisterRequest request;
    request.set_service(kService);
    request.set_instance_id(fmt::format("x-{}", instance));
    request.set_address(address);
    request.set_ttl_ms(600'000);
    return request;
  }

  ScenarioOptions options_;
  std::vector<std::atomic<int64_t>> sent_ns_;
};

}  // namespace

std::unique_ptr<Scenario> MakeXdsFanoutScenario(const ScenarioOptions& options) {
  return std::make_unique<XdsFanoutScenario>(options);
}

}  // namespace registryd::bench
