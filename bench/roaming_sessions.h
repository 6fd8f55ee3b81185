// The clients of the sessions handover (bench/session_handover.h): `sessions`
// sessions, each on a stream of its own, opened on node 0 with `instances`
// instances each and refreshed every TTL/3, on a thread of their own. A
// client whose stream breaks resumes its session at once on a new stream,
// to the node MoveOnBreak names for it (until then, the same node), as a
// client of a killed node does; a resume refused with UNAVAILABLE or ABORTED
// is tried again after a short backoff, any other refusal gives the session
// up.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>

#include "bench/load_driver.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {

class RoamingSessions {
 public:
  struct Options {
    size_t sessions = 0;
    size_t instances = 0;  // per session, in service `service`, ids "<prefix><session>-<n>"
    uint32_t ttl_ms = 0;   // and as much grace
    std::string service;
    std::string instance_prefix;
  };

  // What became of one session.
  struct Outcome {
    std::optional<std::chrono::microseconds> opened_in;  // until its instances were all registered
    uint64_t keep_alives_sent = 0;
    uint64_t keep_alives_answered = 0;
    std::optional<Clock::time_point> resumed_at;  // the first resume after MoveOnBreak answered
    uint32_t resumed_instances = 0;               // as that resume said
    int breaks = 0;       // its streams that broke once it was open
    int failure = 0;      // the grpc::StatusCode it was given up for; 0: none
    std::string failure_message;
  };

  // `nodes[n]`: channels to node n (a session uses one of them). Starts
  // opening every session on node 0.
  RoamingSessions(const std::vector<std::vector<std::shared_ptr<grpc::Channel>>>& nodes, const Options& options);
  // Ends every stream: the sessions wait for their grace.
  ~RoamingSessions();
  RoamingSessions(const RoamingSessions&) = delete;
  RoamingSessions& operator=(const RoamingSessions&) = delete;

  // Until every session is open with its instances or given up; true when
  // all are open by `deadline`.
  bool WaitOpened(Clock::time_point deadline);
  // Keep-alives sent so far, by session.
  std::vector<uint64_t> KeepAlivesSent();
  // Until session i has had `answered[i]` keep-alives answered, every i.
  bool WaitKeepAlivesAnswered(const std::vector<uint64_t>& answered, Clock::time_point deadline);
  // Keep-alive latencies (us) are kept from StartRecording until TakeRecorded.
  void StartRecording();
  std::vector<uint32_t> TakeRecorded();
  // From now on, session i's next stream goes to node `node_of(i)`.
  void MoveOnBreak(const std::function<size_t(size_t session)>& node_of);
  // Until every session was resumed after MoveOnBreak or given up; true
  // when all were resumed by `deadline`.
  bool WaitResumed(Clock::time_point deadline);
  std::vector<Outcome> Outcomes();
  // Resumes refused and tried again, by grpc::StatusCode.
  std::map<int, uint64_t> Retries();

 private:
  using ReaderWriter = grpc::ClientAsyncReaderWriter<registry::v1::SessionRequest, registry::v1::SessionResponse>;
  struct Stream;
  struct Op;
  enum class Awaiting { kNothing, kOpened, kRegistered, kKeptAlive };
  struct Session {
    uint64_t id = 0;  // 0: not opened yet
    std::string token;
    size_t node = 0;            // where its next stream goes
    bool moved = false;         // MoveOnBreak named its node
    Stream* stream = nullptr;   // the current one
    Awaiting awaiting = Awaiting::kNothing;
    bool resuming = false;      // its stream is a resume not answered yet
    size_t registered = 0;
    int attempts = 0;           // resumes refused in a row
    Clock::time_point opening_since;
    Clock::time_point exchange_since;
    uint64_t timer = 0;         // the serial of its live timer
    bool given_up = false;
    Outcome outcome;
  };
  struct Timer {
    Clock::time_point when;
    size_t session;
    uint64_t serial;
    bool operator>(const Timer& other) const { return when > other.when; }
  };

  void Loop();
  void Complete(Op* op, bool ok);
  void Connect(size_t index);
  void Read(Stream& stream);
  void Send(Stream& stream, registry::v1::SessionRequest request);
  void SendRegistrations(Session& session, Stream& stream);
  void Answered(Stream& stream);
  void Break(Stream& stream);
  void Ended(Stream& stream);
  void GiveUp(Session& session, int code, std::string message);
  void Schedule(size_t index, Clock::time_point when);
  void RunTimers(Clock::time_point now);

  Options options_;
  std::vector<std::vector<std::unique_ptr<registry::v1::Registry::Stub>>> stubs_;  // by node
  grpc::CompletionQueue cq_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Session> sessions_;
  std::unordered_map<Stream*, std::unique_ptr<Stream>> streams_;  // until their last tag is back
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::map<int, uint64_t> retries_;
  bool recording_ = false;
  std::vector<uint32_t> recorded_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace registryd::bench
