// A unary call that reaches its handler long after its deadline (a backlog
// inside gRPC) is dropped: its client gave up on it, so it is neither
// handled nor answered, and the queue goes on serving. The test steps the
// queue by hand, so the call is read at once and handled only after its
// client's deadline has passed.
#include <atomic>
#include <future>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "metrics/thread_metrics.h"
#include "registry/v1/registry.grpc.pb.h"
#include "server/queue/call_pool.h"
#include "server/queue/unary_call.h"

namespace registryd {
namespace {

using std::chrono::milliseconds;

struct CountingBackend {
  std::atomic<int> handled = 0;
};

// Heartbeat's wire, with a handler that only counts.
struct CountedHeartbeatRpc {
  using Service = registry::v1::Registry::AsyncService;
  using Request = registry::v1::HeartbeatRequest;
  using Reply = registry::v1::HeartbeatResponse;
  static constexpr auto kRequest = &Service::RequestHeartbeat;
  static constexpr std::string_view kName = "registry.v1.Registry/Heartbeat";
  static grpc::Status Handle(CountingBackend& backend, const Request&, Reply&) {
    ++backend.handled;
    return grpc::Status::OK;
  }
};

using Call = UnaryCall<CountedHeartbeatRpc, CountingBackend>;

grpc::Status Heartbeat(registry::v1::Registry::Stub& stub, milliseconds timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  registry::v1::HeartbeatRequest request;
  request.set_lease_id(7);
  registry::v1::HeartbeatResponse reply;
  return stub.Heartbeat(&context, request, &reply);
}

TEST(LateCallTest, ACallHandledAfterItsDeadlineIsDroppedUnansweredAndTheQueueGoesOn) {
  registry::v1::Registry::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::ServerCompletionQueue> cq = builder.AddCompletionQueue();
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  // Late at all counts (the bound is --stall-threshold in registryd).
  ServingQueue queue(0, std::move(cq), Duration::zero());
  CountingBackend backend;
  CallPool<Call>& pool = queue.Own(std::make_unique<CallPool<Call>>(
      1, 1, [&](CallPool<Call>& owner) { return std::make_unique<Call>(service, queue, backend, owner); }));
  pool.Start();

  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  auto stub = registry::v1::Registry::NewStub(channel);
  constexpr auto kTimeout = milliseconds(500);
  std::future<grpc::Status> late = std::async(std::launch::async, [&] { return Heartbeat(*stub, kTimeout); });
  void* tag = nullptr;
  bool ok = false;
  ASSERT_EQ(queue.cq()->AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(30)),
            grpc::CompletionQueue::NextStatus::GOT_EVENT)
      << "the call arrived";
  ASSERT_TRUE(ok);
  // gRPC read its headers before this: its server deadline has passed by then.
  const auto read_by = std::chrono::steady_clock::now();
  EXPECT_EQ(late.get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  std::this_thread::sleep_until(read_by + kTimeout + milliseconds(100));
  metrics::ThreadMetrics& metrics = metrics::Local();
  const uint64_t dropped_before = metrics.calls_dropped_past_deadline.value();
  constexpr size_t kHeartbeat = metrics::MethodIndex(CountedHeartbeatRpc::kName);
  metrics::LocalCounter& deadline_exceeded =
      metrics.calls[kHeartbeat][static_cast<size_t>(grpc::StatusCode::DEADLINE_EXCEEDED)];
  const uint64_t deadline_exceeded_before = deadline_exceeded.value();
  static_cast<QueueEvent*>(tag)->Proceed(ok);
  EXPECT_EQ(backend.handled, 0) << "a call its client gave up on changes nothing";
  EXPECT_EQ(metrics.calls_dropped_past_deadline.value(), dropped_before + 1);
  EXPECT_EQ(deadline_exceeded.value(), deadline_exceeded_before + 1) << "counted as its client saw it";
  EXPECT_GE(metrics.late_calls.value(), 1u);

  // The object waits for the next call, which is answered.
  queue.StartThread();
  EXPECT_TRUE(Heartbeat(*stub, milliseconds(10'000)).ok());
  EXPECT_EQ(backend.handled, 1);

  stub.reset();
  channel.reset();  // else the server's shutdown waits for this client to see its GOAWAY
  queue.Close([] {});
  server->Shutdown();
  queue.ShutdownAndJoin();
}

}  // namespace
}  // namespace registryd
