// Bidirectional streams on one completion queue, each carrying one exchange
// (a request, then its response) at a time: an operation takes an idle
// stream or opens one, so `concurrency` operations in flight use as many
// streams. For keep-alive scenarios (registryd's KeepAlive, etcd's
// LeaseKeepAlive).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>

#include "bench/load_driver.h"

namespace registryd::bench {

template <typename Request, typename Response>
class StreamPool {
 public:
  using ReaderWriter = grpc::ClientAsyncReaderWriter<Request, Response>;
  // Prepares (does not start) a stream on `cq`, spread by `sequence` over the connections.
  using Open = std::function<std::unique_ptr<ReaderWriter>(grpc::ClientContext*, grpc::CompletionQueue*,
                                                           uint64_t sequence)>;

  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<ReaderWriter> stream;
    grpc::Status finish_status;
    bool broken = false;
  };

  explicit StreamPool(Open open) : open_(std::move(open)) {}

  // Opens new streams until a run has `count`, before it reuses idle ones:
  // as many streams as clients that hold one each (a stream per server).
  void set_min_streams(size_t count) { min_streams_ = count; }

  // The stream for the next exchange on `cq`; `*opened` tells whether it is
  // new (and must be started).
  Stream* Take(grpc::CompletionQueue* cq, uint64_t sequence, bool* opened) {
    if (cq != cq_) {  // a new run: the previous run closed its streams
      all_.clear();
      idle_.clear();
      cq_ = cq;
    }
    *opened = idle_.empty() || all_.size() < min_streams_;
    if (!*opened) {
      Stream* stream = idle_.back();
      idle_.pop_back();
      return stream;
    }
    all_.push_back(std::make_unique<Stream>());
    Stream& stream = *all_.back();
    if (!CallAuthorization().empty()) stream.context.AddMetadata("authorization", CallAuthorization());
    stream.stream = open_(&stream.context, cq, sequence);
    return &stream;
  }

  void Release(Stream* stream) {
    if (!stream->broken) idle_.push_back(stream);
  }

  // Ends every stream once no exchange is in flight; returns how many tags
  // (operations the driver frees) it started.
  int Close(grpc::CompletionQueue* cq) {
    if (cq != cq_) return 0;
    for (auto& stream : all_) {
      stream->context.TryCancel();
      stream->stream->Finish(&stream->finish_status, new PendingCall);
    }
    idle_.clear();
    cq_ = nullptr;  // the streams go at the next run's first Take
    return static_cast<int>(all_.size());
  }

 private:
  Open open_;
  size_t min_streams_ = 0;
  grpc::CompletionQueue* cq_ = nullptr;
  std::vector<std::unique_ptr<Stream>> all_;
  std::vector<Stream*> idle_;
};

// One request and its response on a pooled stream; `check` turns the
// response into the operation's status.
template <typename Request, typename Response>
class StreamExchange final : public PendingCall {
 public:
  using Pool = StreamPool<Request, Response>;
  using Check = grpc::Status (*)(const Response&);

  StreamExchange(Pool& pool, Request request, Check check) : pool_(pool), request_(std::move(request)), check_(check) {}
  ~StreamExchange() override {
    if (stream_ != nullptr) pool_.Release(stream_);
  }

  void Begin(grpc::CompletionQueue* cq, uint64_t sequence) {
    bool opened = false;
    stream_ = pool_.Take(cq, sequence, &opened);
    if (opened) {
      step_ = Step::kStart;
      stream_->stream->StartCall(this);
    } else {
      step_ = Step::kWrite;
      stream_->stream->Write(request_, this);
    }
  }

  bool Proceed(bool ok) override {
    if (!ok) {
      stream_->broken = true;
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broke");
      return true;
    }
    switch (step_) {
      case Step::kStart:
        step_ = Step::kWrite;
        stream_->stream->Write(request_, this);
        return false;
      case Step::kWrite:
        step_ = Step::kRead;
        stream_->stream->Read(&response_, this);
        return false;
      case Step::kRead:
        status = check_(response_);
        return true;
    }
    return true;
  }

 private:
  enum class Step { kStart, kWrite, kRead };

  Pool& pool_;
  typename Pool::Stream* stream_ = nullptr;
  Request request_;
  Check check_;
  Step step_ = Step::kStart;
  Response response_;
};

}  // namespace registryd::bench
