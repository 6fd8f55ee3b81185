// What a completion-queue tag points to (plain C++: the tag is a pointer).
// The queue thread only dispatches:
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
