// The sessions scenario's clients: `size()` sessions, each one stream at a
// time carrying one exchange at a time. A session keeps its id and token for
// the whole scenario, but a stream lives on one run's completion queue: the
// first exchange of a run opens the session on a new stream, or resumes it
// there when an earlier run held it (whose stream's end left it in grace).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>

#include "bench/backend.h"
#include "bench/load_driver.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {

class SessionStreams {
 public:
  using ReaderWriter =
      grpc::ClientAsyncReaderWriter<registry::v1::SessionRequest, registry::v1::SessionResponse>;

  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<ReaderWriter> stream;
    grpc::Status finish_status;
    bool finished = false;  // Finish was called: the next exchange needs a new stream
  };

  // Sessions of `ttl_ms` (and `grace_ms`, unset: the TTL) over `connections`' channels.
  SessionStreams(const Connections& connections, size_t sessions, uint32_t ttl_ms, std::optional<uint32_t> grace_ms);

  size_t size() const { return sessions_.size(); }
  // Sends `request` on the stream of session `index` modulo size() on `cq`
  // (opening or resuming the session first on a new stream) and reads its
  // response; after the exchange in flight on that session, if any.
  std::unique_ptr<PendingCall> Start(size_t index, grpc::CompletionQueue* cq, registry::v1::SessionRequest request);
  // Ends the run's streams (their sessions wait in grace); returns the tags
  // it started, as LoadOptions::close_streams does.
  int Close(grpc::CompletionQueue* cq);

 private:
  class Exchange;
  struct Session {
    uint64_t id = 0;  // 0: not opened yet
    std::string token;
    std::unique_ptr<Stream> stream;  // this run's
    bool in_flight = false;          // an exchange is under way on it
    std::deque<Exchange*> waiting;   // started after it, in order
  };

  std::vector<std::unique_ptr<registry::v1::Registry::Stub>> stubs_;
  uint32_t ttl_ms_;
  std::optional<uint32_t> grace_ms_;
  std::vector<Session> sessions_;
  grpc::CompletionQueue* cq_ = nullptr;  // the run the streams belong to
};

}  // namespace registryd::bench
