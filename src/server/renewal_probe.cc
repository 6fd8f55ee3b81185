#include "server/renewal_probe.h"

#include <grpcpp/support/slice.h>

#include "server/queue/renewal_probe_mark.h"

namespace registryd {

RenewalProbe::RenewalProbe(std::shared_ptr<grpc::Channel> channel, std::string method, const std::string& request,
                           ServingQueue& queue, const LeaseClock& lease_clock, Duration interval)
    : stub_(std::move(channel)),
      method_(std::move(method)),
      queue_(queue),
      lease_clock_(lease_clock),
      interval_(interval) {
  grpc::Slice slice(request);
  request_ = grpc::ByteBuffer(&slice, 1);
}

void RenewalProbe::SendIfDue() {
  if (sent_) return;
  const TimePoint now = lease_clock_.Running();
  if (now < next_send_) return;
  ServingQueue::StartGuard guard(queue_);
  if (!guard.accepting()) return;
  context_.emplace();
  context_->AddMetadata(std::string(kRenewalProbeKey), "1");
  call_ = stub_.PrepareUnaryCall(&*context_, method_, request_, queue_.cq());
  call_->StartCall();
  call_->Finish(&reply_, &status_, this);
  sent_ = now;
  next_send_ = now + interval_;
}

void RenewalProbe::Proceed(bool /*ok*/) {
  // However it ended (answered, or failed at shutdown), it no longer waits.
  sent_.reset();
}

}  // namespace registryd
