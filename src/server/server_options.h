// Everything registryd's flags configure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "auth/authority.h"
#include "cluster/cluster.h"
#include "core/lease_clock.h"
#include "core/queue_watchdog.h"
#include "core/registry.h"
#include "persist/journal.h"

namespace registryd {

// PEM text, as read from the files the flags name. No certificate: plaintext.
struct ServerTls {
  std::string cert_chain;
  std::string private_key;
  std::string client_ca;  // set: clients must present a certificate it signed (mutual TLS)
};

// Where registrations outlive a restart (persist/data_dir.h).
struct PersistenceOptions {
  std::string data_dir;  // empty: in memory only
  // Restored leases get a fresh TTL plus a uniform delay up to this.
  Duration restore_spread = std::chrono::seconds(5);
  JournalOptions journal;
};

struct ServerOptions {
  std::string listen = "[::]:50051";
  uint32_t threads = 1;  // completion queues, one thread each
  RegistryOptions registry;
  // When registryd counts as stalled or behind, and how long expiry may wait
  // for it (core/lease_clock.h); `queues` is set from `threads`.
  LeaseClockOptions lease_clock;
  // A client connection whose requests have waited unread in the kernel
  // longer than this is reset, so that its clients call again on a fresh one
  // (core/disconnect_sockets.h); Duration::max(): never (registryd's flag
  // sets it).
  Duration shed_unread_after = Duration::max();
  // In-flight calls get this long to finish at shutdown, then are cancelled.
  Duration shutdown_timeout = std::chrono::seconds(5);
  // Calls kept requested per method on each queue, so none waits to be accepted.
  int calls_per_method = 32;
  // What one method's calls may grow to on each queue while they wait for the
  // writer (etcd, --fsync always), or for their answers to be sent: the writes
  // under way, and so the batches, are not capped at calls_per_method, and
  // connections whose writes wait cannot take every call object
  // (server/queue/call_pool.h).
  int max_calls_per_method = 1024;
  // HTTP/2 keepalive: registryd pings a connection idle this long and
  // closes it when the ping is not answered within ping_timeout, so a client
  // that died silently has its streams (a session's) end; and clients may
  // ping as often as every min_client_ping_interval, with or without calls
  // under way, without being sent GOAWAY too_many_pings.
  struct Keepalive {
    Duration ping_interval = std::chrono::seconds(30);
    Duration ping_timeout = std::chrono::seconds(10);
    Duration min_client_ping_interval = std::chrono::seconds(10);
  } keepalive;
  // The largest request accepted; larger ones get RESOURCE_EXHAUSTED.
  int max_receive_message_bytes = 64 * 1024;
  ServerTls tls;
  PersistenceOptions persistence;
  // Set: a node of a cluster over etcd (docs/CLUSTER.md); the data dir is not used.
  std::optional<cluster::ClusterOptions> cluster;
  // The seed's registry_service/discovery_service (guessable int32 ids).
  bool seed_api = true;
  // envoy.service.discovery.v3.AggregatedDiscoveryService: gRPC's own xDS
  // clients resolve "xds:///SERVICE" through registryd.
  bool xds = true;
  // Set: every call is authorized by its policy (auth/authority.h); the
  // owner reloads it on SIGHUP.
  std::shared_ptr<auth::Authority> authority;
  // Set: every queue reports to it from an alarm of its own, for a
  // supervisor's watchdog (systemd's WatchdogSec=). Sized for `threads`.
  std::shared_ptr<QueueWatchdog> watchdog;
};

// Shards for a number of queue threads: a power of two, several per thread so
// that concurrent calls rarely meet on one shard's lock.
uint32_t ShardCountForThreads(uint32_t threads);

}  // namespace registryd
