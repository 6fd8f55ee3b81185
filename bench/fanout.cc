#include "bench/fanout.h"

#include "bench/spawned_server.h"

namespace registryd::bench {

FanoutPhases MeasureFanout(const std::string& prefix, const Target& target, const LoadOptions& load,
                           double default_rate, DeliveryLatencies& latencies, registry::v1::Registry::Stub& changer,
                           const std::function<registry::v1::RegisterRequest(uint64_t sequence)>& change,
                           int streams, uint64_t rss_before, uint64_t rss_with_streams) {
  LoadOptions changes = load;
  if (changes.rate <= 0) changes.rate = default_rate;
  std::thread start_measuring([&] {
    std::this_thread::sleep_for(load.warmup);
    latencies.StartMeasuring();
  });
  Phase updates = MeasurePhase(
      prefix + "-changes",
      [&](uint64_t sequence, grpc::CompletionQueue* cq) {
        auto call = std::make_unique<PendingUnary<registry::v1::RegisterResponse>>();
        const registry::v1::RegisterRequest request = change(sequence);
        call->Begin([&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
          return changer.AsyncRegister(context, request, queue);
        }, cq);
        return call;
      },
      changes, target);
  start_measuring.join();
  // Deliveries of the last changes are still on their way: a moment for them.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Phase delivery{prefix + "-delivery", latencies.Stop(updates.load.seconds), {}, {}, {}};
  const double change_count = std::max<double>(1, static_cast<double>(updates.load.calls));
  delivery.figures.emplace_back("streams", streams);
  delivery.figures.emplace_back("changes_per_s", updates.load.CallsPerSecond());
  if (updates.cpu_seconds) {
    delivery.figures.emplace_back("cpu_per_change_and_stream_us", *updates.cpu_seconds * 1e6 / change_count / streams);
  }
  if (target.pid) {
    delivery.figures.emplace_back("rss_per_stream_bytes",
                                  (static_cast<double>(rss_with_streams) - static_cast<double>(rss_before)) / streams);
    delivery.peak_rss = ProcessPeakRssBytes(*target.pid);
  }
  return {std::move(updates), std::move(delivery)};
}

}  // namespace registryd::bench
