// registryd's gRPC server: both APIs, health and reflection on one port,
// served by one completion-queue thread per configured thread.
//
// Life: Start() binds and serves; Shutdown() turns health to NOT_SERVING,
// stops accepting, lets in-flight calls finish within the shutdown timeout,
// closes the connections once none is left, cancels the expiry alarms and
// drains every queue, in that order.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/status/status.h"
#include "core/activity_summary.h"
#include "core/clock.h"
#include "core/lease_clock.h"
#include "core/registry.h"
#include "persist/data_dir.h"
#include "persist/journal.h"
#include "persist/local_writer.h"
#include "server/expiry_ticker.h"
#include "server/watchdog_feeder.h"
#include "server/streams/ads_service.h"
#include "server/rpcs/health_status.h"
#include "server/queue/lenient_services.h"
#include "server/rpcs/native_rpcs.h"
#include "server/rpcs/peer_rpcs.h"
#include "server/server_options.h"
#include "server/queue/serving_queue.h"
#include "server/streams/stream_leases.h"
#include "server/queue/watch_hub.h"
#include "server/streams/xds_resource_cache.h"

namespace registryd {

class Server {
 public:
  // `clock`: the monotonic clock; leases run on a LeaseClock over it.
  Server(const ServerOptions& options, const Clock& clock);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening address and starts the queue threads.
  absl::Status Start();
  // Graceful stop; idempotent. Not to be called from a queue thread.
  void Shutdown();

  // The address actually bound (the port filled in when 0 was asked for).
  const std::string& address() const { return address_; }
  Registry& registry() { return registry_; }
  // What the registry's clock found: stalls, holds (core/lease_clock.h).
  const LeaseClock& lease_clock() const { return lease_clock_; }
  // With a data dir: what the start restored, and the journal (after Start).
  const RestoreReport& restore_report() const { return restore_report_; }
  Journal* journal() { return journal_.get(); }
  // Null until the cluster joined: the HTTP face asks from its own threads
  // while Start still builds the cluster's parts.
  cluster::Cluster* cluster() { return joined_cluster_.load(std::memory_order_acquire); }
  const ServerOptions& options() const { return options_; }
  // What health reports for the whole server: SERVING once started, until
  // the shutdown, and (cluster mode) while in touch with a current etcd.
  bool serving() const;
  // SIGHUP: reads the policy and token files again (a broken file keeps the
  // ones loaded before), then has every open Watch and ADS stream check its
  // caller against the new policy. Needs options().authority.
  absl::Status ReloadAuthorization();

 private:
  template <typename Rpc, typename Backend>
  void StartCalls(typename Rpc::Service& service, ServingQueue& queue, Backend& backend, int count);

  const ServerOptions options_;
  ProcessCpuClock cpu_clock_;
  LeaseClock lease_clock_;
  Registry registry_;
  ActivitySummary summary_;
  SeedRegistryService seed_registry_service_;
  SeedDiscoveryService seed_discovery_service_;
  NativeRegistryService native_service_;
  HealthService health_service_;
  AdsService ads_service_;
  HealthStatus health_;
  // Declared before queues_ so that they outlive the calls.
  std::vector<std::unique_ptr<DiscoverBackend>> discover_backends_;  // one per queue
  std::vector<std::unique_ptr<XdsResourceCache>> xds_resources_;     // one per queue
  // How changes are made (after Start): the cluster's writer, or standalone the local one.
  std::unique_ptr<cluster::Cluster> cluster_;
  std::atomic<cluster::Cluster*> joined_cluster_{nullptr};
  std::unique_ptr<LocalWriter> local_writer_;
  RegistryWriter* writer_ = nullptr;
  PeerService peer_service_;
  LeaseBindings lease_bindings_;
  std::optional<KeepAliveBackend> keep_alive_backend_;
  WatchHubs watch_hubs_;   // one hub per queue
  WatchHubs health_hubs_;  // one hub per queue, for the health Watch streams
  std::vector<std::unique_ptr<ServingQueue>> queues_;
  std::vector<ExpiryTicker*> tickers_;  // owned by their queues
  std::vector<WatchdogFeeder*> watchdog_feeders_;  // owned by their queues; none without a watchdog
  std::unique_ptr<ReceiveBacklog> receive_backlog_;  // the port's, sampled by the first queue's ticker
  // Opens and restores the data dir, and starts its journal.
  // The first queue's ticker's duties: the activity summary, the port's
  // receive queues, the renewal probes (made here, on that queue).
  TickerDuties FirstTickerDuties(ServingQueue& queue);
  absl::Status StartPersistence();
  // Cluster mode: loads the catalog from etcd and joins (the server is bound).
  absl::Status StartCluster();
  // Every name health reports.
  void SetServing(bool serving);

  std::optional<DataDir> data_dir_;
  RestoreReport restore_report_;
  std::unique_ptr<Journal> journal_;  // stopped after the queues: no change comes after it
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  bool stopped_ = false;
};

}  // namespace registryd
