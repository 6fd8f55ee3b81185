// A unary call that reaches its handler long after its deadline (a backlog
// inside gRPC) is dropped: its client gave up on it, so it is neither
// handled nor answered, and the queue goes on serving. Only past the queue's
// bound (--stall-threshold), where it also reports registryd behind so that
// expiry holds: a renewal dropped sooner would lose its lease time. The test
// steps the queue by hand, so a call is read at once and handled only after
// its client's deadline has passed.
#include <atomic>
#include <future>
#include <optional>
#include <string>
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

// Serves Heartbeat with one call object on a queue whose late bound is
// `late_bound`, and a client connected to it. The test steps the queue
// itself until ServeOn().
class LateCallServer {
 public:
  explicit LateCallServer(Duration late_bound) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    std::unique_ptr<grpc::ServerCompletionQueue> cq = builder.AddCompletionQueue();
    server_ = builder.BuildAndStart();
    queue_.emplace(0, std::move(cq), late_bound);
    CallPool<Call>& pool = queue_->Own(std::make_unique<CallPool<Call>>(
        1, 1, [&](CallPool<Call>& owner) { return std::make_unique<Call>(service_, *queue_, backend_, owner); }));
    pool.Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    stub_ = registry::v1::Registry::NewStub(channel_);
  }
  ~LateCallServer() {
    stub_.reset();
    channel_.reset();  // else the server's shutdown waits for this client to see its GOAWAY
    queue_->Close([] {});
    server_->Shutdown();
    queue_->ShutdownAndJoin();
  }

  bool Connected() {
    return server_ != nullptr &&
           channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }
  ServingQueue& queue() { return *queue_; }
  int handled() const { return backend_.handled; }

  // Sends a heartbeat with `timeout`, takes it off the queue by hand, and
  // hands it to its call object `past_deadline` after gRPC's deadline for
  // it (gRPC read its headers before it was taken). False if the call
  // never came.
  bool HandleLate(milliseconds timeout, milliseconds past_deadline) {
    std::future<grpc::Status> late = std::async(std::launch::async, [&] { return Heartbeat(*stub_, timeout); });
    void* tag = nullptr;
    bool ok = false;
    if (queue_->cq()->AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(30)) !=
            grpc::CompletionQueue::NextStatus::GOT_EVENT ||
        !ok) {
      return false;
    }
    const auto read_by = std::chrono::steady_clock::now();
    EXPECT_EQ(late.get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    std::this_thread::sleep_until(read_by + timeout + past_deadline);
    static_cast<QueueEvent*>(tag)->Proceed(ok);
    return true;
  }

  // The queue's own thread takes over; the next call is answered.
  bool ServeOn() {
    queue_->StartThread();
    return Heartbeat(*stub_, milliseconds(10'000)).ok();
  }

 private:
  registry::v1::Registry::AsyncService service_;
  CountingBackend backend_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<ServingQueue> queue_;  // the call objects on it use the members above
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<registry::v1::Registry::Stub> stub_;
};

TEST(LateCallTest, ACallHandledAfterItsDeadlineIsDroppedUnansweredAndTheQueueGoesOn) {
  // Late at all counts (the bound is --stall-threshold in registryd).
  LateCallServer server(Duration::zero());
  ASSERT_TRUE(server.Connected());
  metrics::ThreadMetrics& metrics = metrics::Local();
  const uint64_t dropped_before = metrics.calls_dropped_past_deadline.value();
  constexpr size_t kHeartbeat = metrics::MethodIndex(CountedHeartbeatRpc::kName);
  metrics::LocalCounter& deadline_exceeded =
      metrics.calls[kHeartbeat][static_cast<size_t>(grpc::StatusCode::DEADLINE_EXCEEDED)];
  const uint64_t deadline_exceeded_before = deadline_exceeded.value();

  ASSERT_TRUE(server.HandleLate(milliseconds(500), milliseconds(100))) << "the call arrived";
  EXPECT_EQ(server.handled(), 0) << "a call its client gave up on changes nothing";
  EXPECT_EQ(metrics.calls_dropped_past_deadline.value(), dropped_before + 1);
  EXPECT_EQ(deadline_exceeded.value(), deadline_exceeded_before + 1) << "counted as its client saw it";
  EXPECT_GE(metrics.late_calls.value(), 1u);
  EXPECT_TRUE(server.queue().TakeLateCall().has_value()) << "the expiry alarm holds for it";

  EXPECT_TRUE(server.ServeOn()) << "the object waits for the next call";
  EXPECT_EQ(server.handled(), 1);
}

TEST(LateCallTest, ACallLessThanTheBoundPastItsDeadlineIsStillHandled) {
  // Dropped, its renewal would renew nothing with no hold to keep its lease
  // (registryd is not behind by its bound): so it is handled.
  LateCallServer server(std::chrono::seconds(30));
  ASSERT_TRUE(server.Connected());
  metrics::ThreadMetrics& metrics = metrics::Local();
  const uint64_t dropped_before = metrics.calls_dropped_past_deadline.value();
  const uint64_t late_before = metrics.late_calls.value();

  ASSERT_TRUE(server.HandleLate(milliseconds(300), milliseconds(100))) << "the call arrived";
  EXPECT_EQ(server.handled(), 1) << "a renewal within the bound counts";
  EXPECT_EQ(metrics.calls_dropped_past_deadline.value(), dropped_before);
  EXPECT_EQ(metrics.late_calls.value(), late_before) << "100 ms past its deadline is not registryd behind";
  EXPECT_FALSE(server.queue().TakeLateCall().has_value()) << "nothing for the expiry alarm to hold for";

  EXPECT_TRUE(server.ServeOn()) << "the call handled finishes, and the next is answered";
  EXPECT_EQ(server.handled(), 2);
}

}  // namespace
}  // namespace registryd
