#include "server/server.h"

#include <algorithm>
#include <bit>
#include <thread>

#include <grpc/grpc.h>

#include <fmt/core.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>

#include "server/streams/ads_call.h"
#include "server/streams/feed_responses.h"
#include "server/queue/caller_cache.h"
#include "server/rpcs/health_rpcs.h"
#include "server/streams/keep_alive_call.h"
#include "server/streams/session_call.h"
#include "core/log.h"
#include "server/rpcs/native_rpcs.h"
#include "server/rpcs/seed_rpcs.h"
#include "server/server_credentials.h"
#include "server/queue/unary_call.h"
#include "server/streams/watch_call.h"

namespace registryd {
namespace {

constexpr auto kSummaryInterval = std::chrono::seconds(10);
// Enough for the replies of hundreds of large services; a full cache starts over.
constexpr size_t kDiscoverCacheBytesPerQueue = 32 << 20;
// Streams waiting to be accepted; each accepted stream requests the next.
constexpr int kKeepAliveStreamsRequestedPerQueue = 4;
constexpr int kSessionStreamsRequestedPerQueue = 4;
constexpr int kWatchStreamsRequestedPerQueue = 4;
constexpr int kAdsStreamsRequestedPerQueue = 4;
// Probes are few: a handful of Checks waiting per queue is plenty.
constexpr int kHealthChecksRequestedPerQueue = 4;
constexpr int kHealthWatchesRequestedPerQueue = 2;

// "host:0" with the port the kernel picked.
std::string WithPort(const std::string& listen, int port) {
  return listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
}

}  // namespace

uint32_t ShardCountForThreads(uint32_t threads) {
  return std::clamp<uint32_t>(std::bit_ceil(threads * 8), 16, 1u << kMaxShardBits);
}

namespace {

LeaseClockOptions LeaseClockOptionsFor(const ServerOptions& options) {
  LeaseClockOptions lease_clock = options.lease_clock;
  lease_clock.queues = options.threads;
  // Long enough to bridge the resets of a backlog that keeps coming back
  // (one per --shed-unread-after at most), and for the clients reset last
  // to reconnect and renew (2 s at the default).
  if (options.shed_unread_after != Duration::max()) lease_clock.after_shed = 4 * options.shed_unread_after;
  return lease_clock;
}

}  // namespace

Server::Server(const ServerOptions& options, const Clock& clock)
    : options_(options),
      lease_clock_(clock, cpu_clock_, LeaseClockOptionsFor(options)),
      registry_(options.registry, lease_clock_),
      summary_(registry_, kSummaryInterval) {}

Server::~Server() {
  Shutdown();
  registry_.remove_change_listener(&watch_hubs_);
}

template <typename Rpc, typename Backend>
void Server::StartCalls(typename Rpc::Service& service, ServingQueue& queue, Backend& backend, int count) {
  using Call = UnaryCall<Rpc, Backend>;
  const int max = std::max(count, options_.max_calls_per_method);
  CallPool<Call>& pool = queue.Own(std::make_unique<CallPool<Call>>(
      count, max, [&service, &queue, &backend](CallPool<Call>& pool) {
        return std::make_unique<Call>(service, queue, backend, pool);
      }));
  queue.unsent_answers().Add([&pool](TimePoint before, std::vector<std::string>& peers) {
    pool.ForEach([&](const Call& call) { call.AddPeerIfUnsentSince(before, peers); });
  });
  pool.Start();
}

TickerDuties Server::FirstTickerDuties(ServingQueue& queue) {
  TickerDuties duties{&summary_, receive_backlog_.get(), {}};
  // A probe every half --stall-threshold: one that waits past it is seen
  // within 1.5 times the threshold.
  const Duration interval = options_.lease_clock.late_bound / 2;
  std::shared_ptr<grpc::Channel> channel = server_->InProcessChannel(grpc::ChannelArguments());
  const auto probe = [&](std::string_view method, const std::string& request) {
    duties.probes.push_back(&queue.Own(std::make_unique<RenewalProbe>(channel, fmt::format("/{}", method), request,
                                                                      queue, lease_clock_, interval)));
  };
  registry::v1::HeartbeatRequest native;
  native.set_lease_id(kNoLease);
  probe(HeartbeatRpc::kName, native.SerializeAsString());
  if (options_.seed_api) {
    registry_service::RenewRequest seed;
    seed.set_serverid(SeedHeartbeatRpc::kRenewalProbeServerId);
    probe(SeedHeartbeatRpc::kName, seed.SerializeAsString());
  }
  return duties;
}

absl::Status Server::StartPersistence() {
  const PersistenceOptions& persistence = options_.persistence;
  if (persistence.data_dir.empty()) return absl::OkStatus();
  absl::StatusOr<DataDir> dir = DataDir::Open(persistence.data_dir);
  if (!dir.ok()) return dir.status();
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<RestoreReport> report = dir->Restore(registry_, RestoreOptions{persistence.restore_spread});
  if (!report.ok()) return report.status();
  restore_report_ = *report;
  if (!report->truncated.empty()) log::Warn("data dir: {}", report->truncated);
  log::Info("data dir {}: restored {} instances ({} records, {} refused) in {} ms", persistence.data_dir,
            registry_.Totals().live, report->records, report->counts.refused,
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  data_dir_.emplace(*std::move(dir));
  JournalOptions journal = persistence.journal;
  journal.on_health = [path = persistence.data_dir](const absl::Status& status) {
    if (status.ok()) {
      log::Info("data dir {}: writing again", path);
    } else {
      log::Error("data dir {}: {}; changes are not durable until a snapshot succeeds (retried every round)", path,
                 std::string(status.message()));
    }
  };
  journal_ = std::make_unique<Journal>(registry_, *data_dir_, journal);
  return journal_->Start();
}

absl::Status Server::ReloadAuthorization() {
  if (absl::Status reloaded = options_.authority->Reload(); !reloaded.ok()) return reloaded;
  watch_hubs_.WakeAll();
  return absl::OkStatus();
}

absl::Status Server::StartCluster() {
  cluster::ClusterOptions options = *options_.cluster;
  if (options.address.empty()) options.address = address_;
  if (options.node_name.empty()) options.node_name = options.address;
  options.stall_threshold = options_.lease_clock.late_bound;
  // Nodes call each other as clients of the registry's own port.
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials = grpc::InsecureChannelCredentials();
  if (!options_.tls.cert_chain.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls.client_ca.empty() ? options_.tls.cert_chain : options_.tls.client_ca;
    ssl.pem_cert_chain = options_.tls.cert_chain;
    ssl.pem_private_key = options_.tls.private_key;
    peer_credentials = grpc::SslCredentials(ssl);
  }
  cluster_ = std::make_unique<cluster::Cluster>(registry_, std::move(options), std::move(peer_credentials),
                                                [this](bool serving) { SetServing(serving); });
  if (absl::Status started = cluster_->Start(); !started.ok()) return started;
  joined_cluster_.store(cluster_.get(), std::memory_order_release);
  return absl::OkStatus();
}

bool Server::serving() const {
  return health_.Read("").status == grpc::health::v1::HealthCheckResponse::SERVING;
}

void Server::SetServing(bool serving) {
  health_.Set("", serving);
  health_.Set(registry::v1::Registry::service_full_name(), serving);
  if (options_.seed_api) {
    health_.Set(registry_service::RegistryService::service_full_name(), serving);
    health_.Set(discovery_service::DiscoveryService::service_full_name(), serving);
  }
  if (options_.xds) health_.Set(envoy::service::discovery::v3::AggregatedDiscoveryService::service_full_name(), serving);
}

absl::Status Server::Start() {
  if (!options_.cluster) {
    if (absl::Status persistence = StartPersistence(); !persistence.ok()) {
      stopped_ = true;
      return persistence;
    }
    local_writer_ = std::make_unique<LocalWriter>(
        registry_, options_.persistence.journal.fsync == FsyncPolicy::kAlways ? journal_.get() : nullptr);
    writer_ = local_writer_.get();
  }
  // Reflection is a synchronous service (gRPC adds a thread that polls for
  // it), measured to cost no more than noise per call; health is served on
  // the queues (docs/ARCHITECTURE.md, Threads).
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(options_.tls);
  if (!credentials.ok()) {
    stopped_ = true;
    return credentials.status();
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, *credentials, &port);
  if (options_.seed_api) {
    builder.RegisterService(&seed_registry_service_);
    builder.RegisterService(&seed_discovery_service_);
  }
  builder.RegisterService(&native_service_);
  builder.RegisterService(&health_service_);
  if (options_.xds) builder.RegisterService(&ads_service_);
  if (options_.cluster) builder.RegisterService(&peer_service_);
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  // gRPC asks for SO_REUSEPORT by default: a second registryd (or anything
  // else of the same user asking for it) could then bind our port and take
  // a share of our connections. A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto millis = [](Duration duration) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
  };
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, millis(options_.keepalive.ping_interval));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, millis(options_.keepalive.ping_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             millis(options_.keepalive.min_client_ping_interval));
  // registryd's own pings go on while a connection stays idle (gRPC's
  // default stops them after two without data).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (uint32_t i = 0; i < options_.threads; ++i) cqs.push_back(builder.AddCompletionQueue());

  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    stopped_ = true;
    return absl::UnavailableError(
        "cannot listen on " + options_.listen +
        (options_.tls.cert_chain.empty() ? ""
                                         : " (with TLS: are --tls-cert and --tls-key a PEM certificate and its key?)"));
  }
  address_ = WithPort(options_.listen, port);
  if (options_.cluster) {
    if (absl::Status joined = StartCluster(); !joined.ok()) {
      server_->Shutdown();
      for (auto& cq : cqs) {
        cq->Shutdown();
        void* tag;
        bool ok;
        while (cq->Next(&tag, &ok)) {
        }
      }
      server_.reset();
      stopped_ = true;
      return joined;
    }
    writer_ = &cluster_->writer();
  }
  keep_alive_backend_.emplace(KeepAliveBackend{*writer_, lease_bindings_});
  SetServing(true);

  for (uint32_t i = 0; i < options_.threads; ++i) {
    queues_.push_back(std::make_unique<ServingQueue>(i, std::move(cqs[i]), options_.lease_clock.late_bound));
    if (options_.authority) queues_.back()->set_callers(std::make_unique<CallerCache>(*options_.authority));
    watch_hubs_.Add(*queues_.back());
    health_hubs_.Add(*queues_.back());
  }
  registry_.add_change_listener(&watch_hubs_);
  health_.set_on_change([this] { health_hubs_.OnChanges(0); });
  const int calls = options_.calls_per_method;
  receive_backlog_ = std::make_unique<ReceiveBacklog>(static_cast<uint16_t>(port), options_.shed_unread_after);
  lease_clock_.Start();  // the queues' alarms decide from here on
  for (const auto& queue : queues_) {
    if (options_.seed_api) {
      StartCalls<SeedRegisterRpc>(seed_registry_service_, *queue, *writer_, calls);
      StartCalls<SeedHeartbeatRpc>(seed_registry_service_, *queue, *writer_, calls);
      StartCalls<FindServerRpc>(seed_discovery_service_, *queue, registry_, calls);
      StartCalls<WarnServerErrorRpc>(seed_discovery_service_, *queue, *writer_, calls);
    }
    StartCalls<RegisterRpc>(native_service_, *queue, *writer_, calls);
    StartCalls<HeartbeatRpc>(native_service_, *queue, *writer_, calls);
    StartCalls<DeregisterRpc>(native_service_, *queue, *writer_, calls);
    discover_backends_.push_back(std::make_unique<DiscoverBackend>(
        DiscoverBackend{registry_, DiscoverReplyCache(registry_.options().tick, kDiscoverCacheBytesPerQueue)}));
    StartCalls<DiscoverRpc>(native_service_, *queue, *discover_backends_.back(), calls);
    StartCalls<ListServicesRpc>(native_service_, *queue, registry_, calls);
    StartCalls<ListSessionsRpc>(native_service_, *queue, registry_, kHealthChecksRequestedPerQueue);
    if (cluster_ != nullptr) {
      StartCalls<PeerRenewRpc>(peer_service_, *queue, *cluster_, calls);
      StartCalls<PeerStatusRpc>(peer_service_, *queue, *cluster_, kHealthChecksRequestedPerQueue);
    }
    StartCalls<HealthCheckRpc>(health_service_, *queue, health_, kHealthChecksRequestedPerQueue);
    for (int i = 0; i < kHealthWatchesRequestedPerQueue; ++i) {
      WatchCall<HealthResponses>::Start(health_service_, *queue, health_, health_hubs_[queue->index()]);
    }
    for (int i = 0; i < kKeepAliveStreamsRequestedPerQueue; ++i) {
      KeepAliveCall::Start(native_service_, *queue, *keep_alive_backend_);
    }
    for (int i = 0; i < kSessionStreamsRequestedPerQueue; ++i) {
      SessionCall::Start(native_service_, *queue, *writer_);
    }
    for (int i = 0; i < kWatchStreamsRequestedPerQueue; ++i) {
      WatchCall<FeedResponses>::Start(native_service_, *queue, registry_, watch_hubs_[queue->index()]);
    }
    if (options_.xds) {
      xds_resources_.push_back(std::make_unique<XdsResourceCache>(registry_));
      for (int i = 0; i < kAdsStreamsRequestedPerQueue; ++i) {
        AdsCall::Start(ads_service_, *queue, *xds_resources_.back(), watch_hubs_[queue->index()]);
      }
    }

    // A shard's home queue is shard % threads.
    std::vector<uint32_t> home_shards;
    for (uint32_t shard = queue->index(); shard < registry_.shard_count(); shard += options_.threads) {
      home_shards.push_back(shard);
    }
    TickerDuties duties;
    if (queue->index() == 0) duties = FirstTickerDuties(*queue);
    duties.port = static_cast<uint16_t>(port);
    duties.unsent_after = options_.shed_unread_after;
    tickers_.push_back(
        &queue->Own(std::make_unique<ExpiryTicker>(*writer_, lease_clock_, *queue, std::move(home_shards), duties)));
    tickers_.back()->Start();
    if (options_.watchdog) {
      watchdog_feeders_.push_back(&queue->Own(std::make_unique<WatchdogFeeder>(*options_.watchdog, *queue)));
      watchdog_feeders_.back()->Start();
    }
  }
  if (cluster_ != nullptr) {
    std::vector<grpc::CompletionQueue*> cqs_for_cluster;
    for (const auto& queue : queues_) cqs_for_cluster.push_back(queue->cq());
    cluster_->Serve(std::move(cqs_for_cluster));
  }
  for (const auto& queue : queues_) queue->StartThread();
  return absl::OkStatus();
}

void Server::Shutdown() {
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  // Health Watch streams are woken to send NOT_SERVING and end by
  // themselves, so their hubs' alarms are left to fire.
  health_.Shutdown();
  for (size_t i = 0; i < queues_.size(); ++i) {
    queues_[i]->Close([&] {
      tickers_[i]->Cancel();
      if (!watchdog_feeders_.empty()) watchdog_feeders_[i]->Cancel();
      watch_hubs_[i].Cancel();
    });
  }
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(options_.shutdown_timeout);
  // gRPC's graceful shutdown also waits for every client to close its
  // connection after the GOAWAY, and an idle client reads that only when it
  // next polls (every 5 s by default, or never): so once no call is under
  // way, close the connections. Quiet queues also mean the shutdown has
  // begun (every queue's requested calls have failed), which the cancel
  // needs. At the deadline, Shutdown cancels by itself. This thread only
  // polls while stopping.
  std::thread closer([this, deadline] {
    const auto all_quiet = [this] {
      return std::all_of(queues_.begin(), queues_.end(), [](const auto& queue) { return queue->Quiet(); });
    };
    while (!all_quiet()) {
      if (std::chrono::system_clock::now() >= deadline) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    grpc_server_cancel_all_calls(server_->c_server());
  });
  server_->Shutdown(deadline);
  closer.join();
  // The cluster's calls complete on the queues: it stops while they run.
  if (cluster_ != nullptr) cluster_->Stop();
  for (const auto& queue : queues_) queue->ShutdownAndJoin();
  if (journal_ != nullptr) {
    if (absl::Status stopped = journal_->Stop(); !stopped.ok()) {
      log::Error("data dir {}: the final snapshot failed: {}", options_.persistence.data_dir,
                 std::string(stopped.message()));
    }
  }
}

}  // namespace registryd
