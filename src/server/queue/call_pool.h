// The objects that serve one unary method on one queue (UnaryCall).
//
// `base` of them always wait for a new call. An object stays with its call
// until gRPC says the answer was sent, so a fixed set of objects would let a
// few slow calls stop the method for everyone:
// - A call that waits for the registry's writer (an etcd commit, a journal
//   sync) would cap the writes under way at `base` per queue, and with them
//   the size of the writer's batches. Such a call hands its place to an idle
//   object at once.
// - An answer waits to be sent while its connection's writes wait: a client
//   that stopped reading, or an overloaded gRPC 1.51, seen to hold answers
//   unsent for seconds while it went on reading. Calls on such connections
//   would take every object, and every other client's calls would wait unread
//   in gRPC. Once half the objects wait so, each further one hands its place
//   on. (Not before: an answer is sent at once as a rule, and the object is
//   reused.)
// Idle objects are made on demand up to `max` in all; an object whose call
// ended while `base` others wait goes idle. At `max`, further calls wait in
// gRPC until an object is free: the bound on memory.
//
// Used on the queue's thread only: calls arrive, start waiting and end there.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace registryd {

template <typename Call>
class CallPool {
 public:
  using Make = absl::AnyInvocable<std::unique_ptr<Call>(CallPool&)>;

  CallPool(size_t base, size_t max, Make make) : base_(base), max_(max < base ? base : max), make_(std::move(make)) {}
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  void Start() {
    for (size_t i = 0; i < base_; ++i) WaitForCall();
  }
  // An object that waited for a call got one.
  void Arrived() { --waiting_; }
  // A call waits for the writer: another object takes its place.
  void CallWaits() {
    if (waiting_ < base_) WaitForCall();
  }
  // A call's answer was handed to gRPC: another object takes its place if
  // fewer than half wait for calls (none, with a base of one).
  void CallAnswered() {
    if (waiting_ < (base_ + 1) / 2) WaitForCall();
  }
  // A call ended. True: its object waits for the next call; false: it is idle now.
  bool Ended(Call& call) {
    if (waiting_ >= base_) {
      idle_.push_back(&call);
      return false;
    }
    ++waiting_;
    return true;
  }

  size_t size() const { return calls_.size(); }
  // Calls `visit(call)` for every object, idle or not.
  template <typename Visit>
  void ForEach(Visit visit) const {
    for (const std::unique_ptr<Call>& call : calls_) visit(*call);
  }

 private:
  void WaitForCall() {
    Call* call = nullptr;
    if (!idle_.empty()) {
      call = idle_.back();
      idle_.pop_back();
    } else if (calls_.size() < max_) {
      call = calls_.emplace_back(make_(*this)).get();
    } else {
      return;
    }
    ++waiting_;
    call->RequestNext();
  }

  const size_t base_;
  const size_t max_;
  Make make_;
  size_t waiting_ = 0;  // objects waiting for a call
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<Call*> idle_;
};

}  // namespace registryd
