// What a completion-queue tag points to. The queue thread only dispatches:
//   while (cq.Next(&tag, &ok)) static_cast<QueueEvent*>(tag)->Proceed(ok);
// and each event object knows what it was waiting for.
#pragma once

namespace registryd {

class QueueEvent {
 public:
  virtual ~QueueEvent() = default;
  // `ok` is the completion queue's verdict on the operation this tag waited for.
  virtual void Proceed(bool ok) = 0;
};

}  // namespace registryd
