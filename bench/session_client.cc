#include "bench/session_client.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;
using Stream = grpc::ClientReaderWriter<SessionRequest, SessionResponse>;

struct OpenSession {
  std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<Stream> stream;
};

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Exchange(Stream& stream, const SessionRequest& request, SessionResponse* response) {
  return stream.Write(request) && stream.Read(response);
}

}  // namespace

int RunSessionClient(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s %s ADDRESS SESSIONS TTL_MS GRACE_MS SERVICE TIMES_FILE\n", argv[0],
                 kSessionClientCommand);
    return 2;
  }
  const std::string address = argv[2];
  const auto sessions = static_cast<size_t>(std::stoul(argv[3]));
  const auto ttl_ms = static_cast<uint32_t>(std::stoul(argv[4]));
  const auto grace_ms = static_cast<uint32_t>(std::stoul(argv[5]));
  const std::string service = argv[6];
  const int fd = open(argv[7], O_RDWR);
  void* mapped = fd < 0 ? MAP_FAILED : mmap(nullptr, sessions * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) {
    std::perror(argv[7]);
    return 1;
  }
  auto* sent_at = static_cast<std::atomic<int64_t>*>(mapped);

  auto stub = registry::v1::Registry::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::vector<OpenSession> open(sessions);
  for (size_t i = 0; i < sessions; ++i) {
    SessionRequest request;
    request.mutable_open()->set_ttl_ms(ttl_ms);
    request.mutable_open()->set_grace_ms(grace_ms);
    SessionResponse response;
    open[i].stream = stub->Session(open[i].context.get());
    const int64_t sent = MonotonicNanos();
    bool ok = Exchange(*open[i].stream, request, &response) && response.has_opened();
    request.Clear();
    auto* instance = request.mutable_register_()->add_instances();
    instance->set_service(service);
    instance->set_instance_id("detect-" + std::to_string(i));
    instance->set_address("10.0.0.2:" + std::to_string(1000 + i % 60000));
    ok = ok && Exchange(*open[i].stream, request, &response) && response.registered().results_size() == 1 &&
         response.registered().results(0).code() == 0;
    if (!ok) {
      std::fprintf(stderr, "session %zu could not be opened with its instance\n", i);
      return 1;
    }
    sent_at[i].store(sent);
  }
  std::fprintf(stderr, "sessions open: %zu\n", sessions);
  SessionRequest keep_alive;
  keep_alive.mutable_keep_alive();
  SessionResponse response;
  for (auto next = std::chrono::steady_clock::now();; ) {
    next += std::chrono::milliseconds(ttl_ms / 3);
    std::this_thread::sleep_until(next);
    for (size_t i = 0; i < sessions; ++i) {
      const int64_t sent = MonotonicNanos();
      if (!Exchange(*open[i].stream, keep_alive, &response) || !response.has_kept_alive()) {
        std::fprintf(stderr, "session %zu: a refresh failed\n", i);
        return 1;
      }
      sent_at[i].store(sent);
    }
  }
}

}  // namespace registryd::bench
