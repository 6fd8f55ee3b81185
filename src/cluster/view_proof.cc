#include "cluster/view_proof.h"

#include <algorithm>
#include <iterator>
#include <vector>

namespace registryd::cluster {

ViewProof::ViewProof(std::function<void()> want_beacon) : want_beacon_(std::move(want_beacon)) {}

void ViewProof::Proven(Clock::time_point sent) {
  Clock::time_point proven;
  {
    std::lock_guard<std::mutex> lock(mu_);
    proven = proven_as_of_ = std::max(proven_as_of_, sent);
  }
  Release([proven](const Waiter& waiter) { return waiter.asked <= proven; }, true);
}

void ViewProof::NoteRemoved(Key key) {
  std::lock_guard<std::mutex> lock(mu_);
  Remember(key, Clock::time_point{});
}

bool ViewProof::KnownRemoved(Key key) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = remembered_.find(key);
  return it != remembered_.end() && it->second.asked == Clock::time_point{};
}

bool ViewProof::AbsenceProven(Key key, Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = remembered_.find(key);
    if (it == remembered_.end()) {
      Remember(key, now);
      wanted_as_of_ = std::max(wanted_as_of_, now);
    } else if (it->second.asked <= proven_as_of_) {
      // A server id may be registered again: its next question needs a proof of its own.
      if (key.kind == KeyKind::kSeedId) remembered_.erase(it);
      return true;
    } else {
      wanted_as_of_ = std::max(wanted_as_of_, it->second.asked);
    }
  }
  want_beacon_();
  return false;
}

void ViewProof::WhenProven(Clock::time_point now, Clock::time_point deadline,
                           absl::AnyInvocable<void(bool) &&> done) {
  enum { kProven, kStopped, kWaiting } state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state = now <= proven_as_of_ ? kProven : stopped_ ? kStopped : kWaiting;
    if (state == kWaiting) {
      wanted_as_of_ = std::max(wanted_as_of_, now);
      waiters_.push_back(Waiter{now, deadline, std::move(done)});
    }
  }
  if (state == kWaiting) {
    want_beacon_();
  } else {
    std::move(done)(state == kProven);
  }
}

void ViewProof::ExpireWaiters(Clock::time_point now) {
  Release([now](const Waiter& waiter) { return waiter.deadline <= now; }, false);
}

void ViewProof::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  Release([](const Waiter&) { return true; }, false);
}

void ViewProof::Release(absl::FunctionRef<bool(const Waiter&)> pick, bool proven) {
  std::vector<Waiter> picked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto kept = std::stable_partition(waiters_.begin(), waiters_.end(),
                                            [&](const Waiter& waiter) { return !pick(waiter); });
    std::move(kept, waiters_.end(), std::back_inserter(picked));
    waiters_.erase(kept, waiters_.end());
  }
  for (Waiter& waiter : picked) std::move(waiter.done)(proven);
}

bool ViewProof::BeaconWanted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wanted_as_of_ > proven_as_of_;
}

void ViewProof::Remember(Key key, Clock::time_point asked) {
  remembered_.insert_or_assign(key, Remembered{asked, next_sequence_});
  remembered_order_.emplace_back(key, next_sequence_++);
  while (remembered_order_.size() > kMaxRemembered) {
    const auto [oldest, sequence] = remembered_order_.front();
    remembered_order_.pop_front();
    // Not an entry replaced since (a removal after a question, a server id asked afresh).
    if (const auto it = remembered_.find(oldest); it != remembered_.end() && it->second.sequence == sequence) {
      remembered_.erase(it);
    }
  }
}

}  // namespace registryd::cluster
