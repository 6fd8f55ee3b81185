// registry.v1.Registry/Session: one session's stream (see SessionStream for
// what its requests do). One SessionCall object serves one stream, on its
// queue's thread:
//
//   requested --ok--> (requests the next stream) read
//   read --ok--> SessionStream::Handle --answered--> write --ok--> read ...
//   answered with an error --> Finish(it)
//   written after a close --> Finish(OK)
//   read or write --!ok--> SessionStream::Release (the session waits for a
//                          resume), Finish(OK)
//   the object lets go of itself once Finish's tag and the done tag are
//   back; an answer still awaited holds it until it comes.
//
// An answer may come on another thread (a registration waits for the
// journal's sync or etcd): it wakes the stream on its queue with an alarm,
// and holds the object until the alarm's tag is back. So no tag outlives it,
// and an answer that comes after the stream ended (or the queue closed)
// finds it.
// One operation at a time per stream, as KeepAliveCall: a client that sends
// without reading is held back by flow control.
#pragma once

#include <atomic>
#include <memory>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include "core/queue_event.h"
#include "server/queue/lenient_services.h"
#include "server/queue/serving_queue.h"
#include "server/queue/stream_caller.h"
#include "server/streams/session_stream.h"

namespace registryd {

class SessionCall {
 public:
  // Requests a stream on `queue`; the object owns itself from then on.
  static void Start(NativeRegistryService& service, ServingQueue& queue, RegistryWriter& writer);

 private:
  SessionCall(NativeRegistryService& service, ServingQueue& queue, RegistryWriter& writer)
      : service_(service), queue_(queue), writer_(writer), session_(writer), stream_(&context_) {}

  void OnStarted(bool ok);
  void OnRead(bool ok);
  // The answer to the request read: on the queue's thread.
  void OnAnswered(bool ok);
  void OnWritten(bool ok);
  void Answered(grpc::Status status);
  bool StartRead();
  bool StartWrite();
  bool StartFinish();
  void End();
  void OnFinished(bool ok);
  void OnDone(bool ok);
  void LetGoWhenIdle();

  // Who is last of Handle's return and its answer goes on with the stream.
  enum AnswerPhase : uint8_t { kHandling, kReturned, kAnswered };

  NativeRegistryService& service_;
  ServingQueue& queue_;
  RegistryWriter& writer_;
  SessionStream session_;
  grpc::ServerContext context_;
  grpc::Status status_;          // what Finish sends
  grpc::Status answer_status_;   // the answer to the request read
  StreamCaller caller_;          // resolved again after each policy reload
  grpc::ServerAsyncReaderWriter<registry::v1::SessionResponse, lenient::SessionRequest> stream_;
  CallStep<SessionCall> started_{*this, &SessionCall::OnStarted};
  CallStep<SessionCall> read_{*this, &SessionCall::OnRead};
  CallStep<SessionCall> answered_{*this, &SessionCall::OnAnswered};
  CallStep<SessionCall> written_{*this, &SessionCall::OnWritten};
  CallStep<SessionCall> finished_{*this, &SessionCall::OnFinished};
  CallStep<SessionCall> done_{*this, &SessionCall::OnDone};
  std::shared_ptr<SessionCall> self_;    // until Finish's tag and the done tag are back
  std::shared_ptr<SessionCall> waking_;  // while the alarm's tag is out
  grpc::Alarm alarm_;                    // an answer came on another thread
  std::atomic<AnswerPhase> answer_phase_{kHandling};
  lenient::SessionRequest request_;
  registry::v1::SessionResponse response_;
  bool awaiting_answer_ = false;  // Handle returned before its answer came
  bool end_after_write_ = false;  // the session closed: Finish once the answer is written
  bool ending_ = false;
  bool finish_back_ = false;
  bool done_back_ = false;
};

}  // namespace registryd
