// One queue's report to the QueueWatchdog (core/queue_watchdog.h): an alarm
// on the queue, set again every period, so the report comes from the
// queue's own thread between its calls. A queue stuck in a handler never
// gets to it.
#pragma once

#include <grpcpp/alarm.h>

#include "core/queue_event.h"
#include "core/queue_watchdog.h"
#include "server/queue/serving_queue.h"

namespace registryd {

class WatchdogFeeder final : public QueueEvent {
 public:
  WatchdogFeeder(QueueWatchdog& watchdog, ServingQueue& queue) : watchdog_(watchdog), queue_(queue) {}

  void Start() { Arm(); }
  // Only inside ServingQueue::Close(): cancelling delivers the tag with ok=false.
  void Cancel() { alarm_.Cancel(); }
  void Proceed(bool ok) override;

 private:
  void Arm();

  QueueWatchdog& watchdog_;
  ServingQueue& queue_;
  grpc::Alarm alarm_;
};

}  // namespace registryd
