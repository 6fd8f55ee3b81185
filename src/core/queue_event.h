// What a completion-queue tag points to (plain C++: the tag is a pointer).
// The queue thread only dispatches:
//   while (cq.Next(&tag, &ok)) static_cast<QueueEvent*>(tag)->Proceed(ok);
// and each event object knows what it was waiting for.
#pragma once

#include <atomic>

namespace registryd {

class QueueEvent {
 public:
  virtual ~QueueEvent() = default;
  // `ok` is the completion queue's verdict on the operation this tag waited for.
  virtual void Proceed(bool ok) = 0;

  // An event made on another thread than the one its queue runs on (the
  // cluster's client calls) publishes itself before gRPC gets its tag, and
  // the queue acquires it before the dispatch: the hand-off inside gRPC is
  // invisible to ThreadSanitizer, this pair is not. (A plain load on x86.)
  void Publish() { published_.store(true, std::memory_order_release); }
  void Acquire() const { (void)published_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> published_{false};
};

// One of several tags of a stream's call object (its read, write, finish and
// done): forwards the queue's verdict to the member function for that step.
template <typename Call>
class CallStep final : public QueueEvent {
 public:
  CallStep(Call& call, void (Call::*on)(bool)) : call_(call), on_(on) {}
  void Proceed(bool ok) override { (call_.*on_)(ok); }

 private:
  Call& call_;
  void (Call::*on_)(bool);
};

}  // namespace registryd
