// A change to what Discover shows, as watchers receive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/instance.h"

namespace registryd {

enum class ChangeKind : uint8_t {
  kAdded,    // an instance became visible: registered, or back after an ejection
  kUpdated,  // a visible instance's address, metadata or overloaded flag changed
  kRemoved,  // an instance left the visible set, for `reason`
};

enum class RemovalReason : uint8_t {
  kNone,          // not a removal
  kDeregistered,  // by its lease holder (or moved to another service by a seed registration)
  kExpired,       // its lease ran out
  kEjected,       // a client reported it unreachable (until its next heartbeat)
};

struct Change {
  uint64_t revision = 0;
  ChangeKind kind = ChangeKind::kAdded;
  RemovalReason reason = RemovalReason::kNone;
  std::string service;
  // The instance's state after the change: a copy, so the change outlives the
  // record, shared by the log and every watcher it is sent to. For kRemoved
  // only its instance id and lease are set.
  std::shared_ptr<const InstanceRecord> instance;
};

}  // namespace registryd
