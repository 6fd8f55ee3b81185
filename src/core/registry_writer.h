// How a change reaches the registry: the one interface the RPC handlers
// write through, with two implementations.
//
// - Standalone (LocalWriter, src/persist): the change is made in memory at
//   once and the data dir's journal follows it (under --fsync=always the
//   answer waits for its sync).
// - Cluster (ClusterWriter, src/cluster): the change is committed to etcd
//   first, and reaches this node's registry, as every node's, through its
//   watch of etcd; the answer waits for both.
//
// Heartbeats are answered from memory in both. A write's `done` runs once,
// on the caller's thread (at once) or on the writer's own thread (later).
// Every change takes the caller's Access (null: no policy), checked against
// what the change finds (core/access.h).
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/access.h"
#include "core/instance.h"
#include "core/registry.h"

namespace registryd {

class RegistryWriter {
 public:
  template <typename Result>
  using Done = absl::AnyInvocable<void(absl::StatusOr<Result>) &&>;

  virtual ~RegistryWriter() = default;

  // As Registry::Register (native; an instance id that is a seed id
  // registers as SeedRegister does) and Registry::SeedRegister.
  // The spec is taken by value: a cluster node keeps it until etcd answers.
  virtual void Register(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) = 0;
  virtual void SeedRegister(RegisterSpec spec, AccessRef access, Done<RegisterResult> done) = 0;
  virtual void Deregister(LeaseId lease, AccessRef access, Done<Removal> done) = 0;
  // Ejects the server until its next heartbeat and offers another one.
  virtual void WarnServerError(int32_t server_id, AccessRef access, Done<WarnResult> done) = 0;

  // Sessions (core/session_table.h): opening, resuming (the caller's stream
  // takes the session over) and closing go through the writer, which in
  // cluster mode records them for the other nodes; a refresh and a break
  // stay in this node's memory (Registry::BreakSession).
  virtual void OpenSession(SessionSpec spec, Done<OpenedSession> done) = 0;
  virtual void ResumeSession(SessionId id, SessionToken token, std::string owner, std::string peer,
                             Done<ResumedSession> done) = 0;
  // Answers the id of the session closed.
  virtual void CloseSession(SessionId id, SessionAttachment attachment, Done<SessionId> done) = 0;
  // A request on the session's stream (Registry::RefreshSession); a cluster
  // node cut off from etcd refuses it, as it refuses heartbeats.
  virtual absl::Status RefreshSession(SessionId id, SessionAttachment attachment) = 0;

  virtual absl::StatusOr<Duration> Heartbeat(LeaseId lease, bool overloaded, const Access* access) = 0;
  virtual absl::StatusOr<Duration> SeedHeartbeat(int32_t server_id, bool overloaded, const Access* access) = 0;

  // Expires what is due in one shard, within the registry's batch (see
  // Registry::Advance); true when due work remains. On the shard's queue.
  virtual bool Expire(uint32_t shard) = 0;

  virtual Registry& registry() = 0;
};

}  // namespace registryd
