// Authorization under concurrency, through the real server: two identities
// (bearer tokens) register, renew and try each other's leases from several
// threads on both queues, over unary calls and KeepAlive streams, while the
// policy and token files are reloaded again and again (as SIGHUP does: each
// reload wakes every Watch stream to check its caller again) and every change
// goes to the audit log. Afterwards each identity holds exactly what it
// registered, every attempt on the other's leases was refused, a Watch of
// every service per identity saw every registration without being ended, and
// the audit log has a line per change. Runs under ASan+UBSan and TSan (the
// concurrency suite).
#include <stdlib.h>

#include <atomic>
#include <set>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "auth/authority.h"
#include "auth/caller.h"
#include "test_server.h"

namespace registryd::testing {
namespace {

constexpr int kClientsPerIdentity = 2;
constexpr int kInstancesPerClient = 20;
constexpr int kRenewals = 3;
constexpr int kReloads = 40;

struct Identity {
  const char* name;
  const char* token;
  const char* service;
};
// sha256 of each token is in the token file below.
constexpr Identity kIdentities[] = {{"a", "tok-a", "svc-a"}, {"b", "tok-b", "svc-b"}};

constexpr char kPolicy[] = R"(
rule { identity: "a" service: "svc-a*" permission: REGISTER }
rule { identity: "b" service: "svc-b*" permission: REGISTER }
rule { identity: "*" service: "*" permission: READ }
)";
constexpr char kTokens[] = R"(
token { sha256: "4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe" identity: "a" }
token { sha256: "efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773" identity: "b" }
)";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
}

std::unique_ptr<grpc::ClientContext> As(const Identity& identity) {
  std::unique_ptr<grpc::ClientContext> context = Context();
  context->set_wait_for_ready(true);  // see concurrency_test.cc: a fresh connection may fail once
  context->AddMetadata("authorization", std::string("Bearer ") + identity.token);
  return context;
}

// The leases each identity registered, for the other to try.
struct Leases {
  std::mutex mu;
  std::vector<uint64_t> of[2];
};

void RunClient(TestServer& server, int who, int client, Leases& leases, std::atomic<int>& failures,
               std::atomic<int>& refused) {
  const Identity& identity = kIdentities[who];
  auto native = registry::v1::Registry::NewStub(server.NewChannel());
  const auto fail = [&](const std::string& what, const grpc::Status& status) {
    if (failures.fetch_add(1) == 0) {
      ADD_FAILURE() << identity.name << client << ": " << what << ": " << status.error_code() << " "
                    << status.error_message();
    }
  };
  std::vector<uint64_t> mine;
  for (int i = 0; i < kInstancesPerClient; ++i) {
    registry::v1::RegisterRequest request;
    request.set_service(std::string(identity.service) + "-" + std::to_string(i % 3));
    request.set_instance_id(std::to_string(client) + "-" + std::to_string(i));
    request.set_address("127.0.0.1:" + std::to_string(9000 + i));
    registry::v1::RegisterResponse reply;
    const grpc::Status status = native->Register(As(identity).get(), request, &reply);
    if (!status.ok()) {
      fail("register", status);
      continue;
    }
    mine.push_back(reply.lease_id());
    std::lock_guard<std::mutex> lock(leases.mu);
    leases.of[who].push_back(reply.lease_id());
  }
  for (int round = 0; round < kRenewals; ++round) {
    for (const uint64_t lease : mine) {
      registry::v1::HeartbeatRequest request;
      request.set_lease_id(lease);
      registry::v1::HeartbeatResponse reply;
      if (const grpc::Status status = native->Heartbeat(As(identity).get(), request, &reply); !status.ok()) {
        fail("heartbeat", status);
      }
    }
    // The other's leases: renewing and deregistering them is refused.
    std::vector<uint64_t> theirs;
    {
      std::lock_guard<std::mutex> lock(leases.mu);
      theirs = leases.of[1 - who];
    }
    for (const uint64_t lease : theirs) {
      registry::v1::HeartbeatRequest heartbeat;
      heartbeat.set_lease_id(lease);
      registry::v1::HeartbeatResponse renewed;
      const grpc::Status status = native->Heartbeat(As(identity).get(), heartbeat, &renewed);
      registry::v1::DeregisterRequest deregister;
      deregister.set_lease_id(lease);
      registry::v1::DeregisterResponse removed;
      const grpc::Status gone = native->Deregister(As(identity).get(), deregister, &removed);
      for (const grpc::Status& attempt : {status, gone}) {
        if (attempt.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
          refused.fetch_add(1);
        } else {
          fail("another identity's lease", attempt);
        }
      }
    }
    // The same over a KeepAlive stream: its own renewed, the other's refused in the response.
    std::unique_ptr<grpc::ClientContext> context = As(identity);
    auto stream = native->KeepAlive(context.get());
    for (const uint64_t lease : mine) {
      registry::v1::KeepAliveRequest request;
      request.set_lease_id(lease);
      registry::v1::KeepAliveResponse response;
      if (!stream->Write(request) || !stream->Read(&response) || response.code() != 0) {
        fail("keepalive", grpc::Status(static_cast<grpc::StatusCode>(response.code()), response.message()));
      }
    }
    if (!theirs.empty()) {
      registry::v1::KeepAliveRequest request;
      request.set_lease_id(theirs.front());
      registry::v1::KeepAliveResponse response;
      if (stream->Write(request) && stream->Read(&response) &&
          response.code() == static_cast<int>(grpc::StatusCode::PERMISSION_DENIED)) {
        refused.fetch_add(1);
      } else {
        fail("keepalive of another identity's lease", grpc::Status(static_cast<grpc::StatusCode>(response.code()),
                                                                    response.message()));
      }
    }
    stream->WritesDone();
    if (const grpc::Status status = stream->Finish(); !status.ok()) fail("keepalive finish", status);
  }
}

// Reads a Watch of every service (read on "*" stays granted through the
// reloads) until it saw `expected` distinct instances added.
void RunWatcher(TestServer& server, const Identity& identity, size_t expected, std::atomic<int>& failures) {
  auto native = registry::v1::Registry::NewStub(server.NewChannel());
  const std::unique_ptr<grpc::ClientContext> context = As(identity);
  registry::v1::WatchRequest request;
  auto stream = native->Watch(context.get(), request);
  std::set<std::string> added;
  registry::v1::WatchResponse response;
  while (added.size() < expected && stream->Read(&response)) {
    for (const registry::v1::WatchEvent& event : response.events()) {
      if (event.kind() == registry::v1::WatchEvent::ADDED) {
        added.insert(event.instance().service() + "/" + event.instance().instance_id());
      }
    }
  }
  if (added.size() < expected) {
    const grpc::Status status = stream->Finish();
    if (failures.fetch_add(1) == 0) {
      ADD_FAILURE() << identity.name << "'s watch ended after " << added.size() << " of " << expected
                    << " registrations: " << status.error_code() << " " << status.error_message();
    }
    return;
  }
  context->TryCancel();
  stream->Finish();
}

TEST(AuthzConcurrencyTest, IdentitiesKeepTheirLeasesWhileThePolicyIsReloaded) {
  char pattern[] = "/tmp/authz_concurrency_XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string directory = pattern;
  const auth::AuthFiles files{directory + "/policy.txt", directory + "/tokens.txt", directory + "/audit.jsonl"};
  WriteFile(files.policy, kPolicy);
  WriteFile(files.tokens, kTokens);
  absl::StatusOr<std::unique_ptr<auth::Authority>> authority = auth::Authority::Load(files);
  ASSERT_TRUE(authority.ok()) << authority.status();
  ServerOptions options = TestServerOptions();
  options.authority = *std::move(authority);
  const uint64_t refusals_before = auth::RefusalCount(auth::Permission::kRegister);
  {
    TestServer server(options);
    Leases leases;
    std::atomic<int> failures{0};
    std::atomic<int> refused{0};
    std::atomic<bool> clients_done{false};
    // Reloads race the calls: each swaps the snapshot every queue's cache
    // reads, and wakes every Watch stream while changes wake them too.
    std::thread reloader([&] {
      for (int i = 0; i < kReloads && !clients_done.load(); ++i) {
        if (const absl::Status reloaded = server.server().ReloadAuthorization(); !reloaded.ok()) {
          ADD_FAILURE() << reloaded;
        }
        std::this_thread::yield();
      }
    });
    constexpr size_t kRegistrations = 2 * kClientsPerIdentity * kInstancesPerClient;
    std::vector<std::thread> watchers;
    for (int who = 0; who < 2; ++who) {
      watchers.emplace_back(RunWatcher, std::ref(server), std::cref(kIdentities[who]), kRegistrations,
                            std::ref(failures));
    }
    std::vector<std::thread> clients;
    for (int who = 0; who < 2; ++who) {
      for (int client = 0; client < kClientsPerIdentity; ++client) {
        clients.emplace_back(RunClient, std::ref(server), who, client, std::ref(leases), std::ref(failures),
                             std::ref(refused));
      }
    }
    for (std::thread& client : clients) client.join();
    clients_done = true;
    reloader.join();
    for (std::thread& watcher : watchers) watcher.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(refused.load(), 0);
    // The other's services are not the caller's to register in: each refusal lacked register.
    EXPECT_EQ(auth::RefusalCount(auth::Permission::kRegister) - refusals_before,
              static_cast<uint64_t>(refused.load()));

    // Each identity holds exactly what it registered: nothing of the other's went.
    for (const Identity& identity : kIdentities) {
      size_t held = 0;
      for (int i = 0; i < 3; ++i) {
        registry::v1::DiscoverRequest request;
        request.set_service(std::string(identity.service) + "-" + std::to_string(i));
        registry::v1::DiscoverResponse reply;
        ASSERT_TRUE(server.native().Discover(As(identity).get(), request, &reply).ok());
        held += static_cast<size_t>(reply.instances_size());
      }
      EXPECT_EQ(held, static_cast<size_t>(kClientsPerIdentity * kInstancesPerClient)) << identity.name;
    }
  }
  // Every change made or refused, one line each: the registrations and the refused deregistrations.
  std::ifstream audit(files.audit_log);
  int registered = 0;
  int refused_deregistrations = 0;
  for (std::string line; std::getline(audit, line);) {
    if (line.find("\"action\":\"register\"") != std::string::npos && line.find("\"result\":\"ok\"") != std::string::npos) {
      ++registered;
    }
    if (line.find("\"action\":\"deregister\"") != std::string::npos &&
        line.find("\"result\":\"PERMISSION_DENIED\"") != std::string::npos) {
      ++refused_deregistrations;
    }
  }
  EXPECT_EQ(registered, 2 * kClientsPerIdentity * kInstancesPerClient);
  EXPECT_GT(refused_deregistrations, 0);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace registryd::testing
