// registryd renewing through itself, to see how long its clients' renewals
// wait (core/lease_clock.h). A call gRPC has read from its socket but no
// handler has taken yet waits in gRPC's list of pending calls: no alarm
// runs late for it, the kernel's receive queues no longer hold it, and a
// call without a deadline is never late. A call of the same method sent
// now waits behind it. So, on one queue, each renewal method gets a probe
// call over an in-process channel (no socket, no TLS) every `interval`; how
// long the one under way has waited goes into that queue's alarm reports,
// and one that waited past --stall-threshold holds expiry like a late
// alarm. Its handler answers it at once and counts it nowhere
// (server/queue/renewal_probe_mark.h).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include "core/lease_clock.h"
#include "core/queue_event.h"
#include "server/queue/serving_queue.h"

namespace registryd {

class RenewalProbe final : public QueueEvent {
 public:
  // `method`: "/package.Service/Method"; `request`: the serialized request
  // that its Rpc::MayBeRenewalProbe accepts.
  RenewalProbe(std::shared_ptr<grpc::Channel> channel, std::string method, const std::string& request,
               ServingQueue& queue, const LeaseClock& lease_clock, Duration interval);

  // On the queue's thread (its expiry alarm): sends a probe if none is under
  // way and `interval` has passed since the last one was sent.
  void SendIfDue();
  // When the probe under way was sent (the lease clock's Running() time:
  // Unheld() steps back when a hold ends, which would stop the probes for
  // as long as the hold lasted).
  std::optional<TimePoint> waiting_since() const { return sent_; }
  // Its answer came (or, at shutdown, its call ended).
  void Proceed(bool ok) override;

 private:
  grpc::GenericStub stub_;
  const std::string method_;
  grpc::ByteBuffer request_;
  ServingQueue& queue_;
  const LeaseClock& lease_clock_;
  const Duration interval_;
  std::optional<grpc::ClientContext> context_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call_;
  grpc::ByteBuffer reply_;
  grpc::Status status_;
  std::optional<TimePoint> sent_;  // while one is under way
  TimePoint next_send_{};
};

}  // namespace registryd
