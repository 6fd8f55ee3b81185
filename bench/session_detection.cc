#include "bench/session_detection.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/session_client.h"
#include "bench/spawned_server.h"
#include "bench/temp_dir.h"
#include "registry/v1/registry.grpc.pb.h"

namespace registryd::bench {
namespace {

constexpr const char* kInstancePrefix = "detect-";

// A Watch of one service that notes when each "detect-N" instance was added
// and removed, on a thread of its own.
class RemovalWatch {
 public:
  RemovalWatch(const std::shared_ptr<grpc::Channel>& channel, const std::string& service, size_t instances)
      : stub_(registry::v1::Registry::NewStub(channel)), added_(instances), removed_(instances) {
    registry::v1::WatchRequest request;
    request.set_service(service);
    if (!CallAuthorization().empty()) context_.AddMetadata("authorization", CallAuthorization());
    reader_ = stub_->Watch(&context_, request);
    thread_ = std::thread([this] { Follow(); });
  }
  ~RemovalWatch() {
    context_.TryCancel();
    thread_.join();
  }

  // Waits until `count` instances were added (true) or `deadline` passed.
  bool WaitAdded(size_t count, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return added_count_ >= count; });
  }
  bool WaitRemoved(size_t count, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return removed_count_ >= count; });
  }
  std::vector<std::optional<Clock::time_point>> Removed() {
    std::lock_guard lock(mutex_);
    return removed_;
  }

 private:
  void Follow() {
    registry::v1::WatchResponse response;
    while (reader_->Read(&response)) {
      const Clock::time_point now = Clock::now();
      std::lock_guard lock(mutex_);
      for (const auto& event : response.events()) {
        const std::string& id = event.instance().instance_id();
        if (id.rfind(kInstancePrefix, 0) != 0) continue;
        const size_t index = std::stoul(id.substr(std::char_traits<char>::length(kInstancePrefix)));
        if (index >= added_.size()) continue;
        if (event.kind() == registry::v1::WatchEvent::ADDED && !added_[index]) {
          added_[index] = true;
          ++added_count_;
        } else if (event.kind() == registry::v1::WatchEvent::REMOVED && !removed_[index]) {
          removed_[index] = now;
          ++removed_count_;
        }
      }
      changed_.notify_all();
    }
    reader_->Finish();
  }

  grpc::ClientContext context_;
  std::unique_ptr<registry::v1::Registry::Stub> stub_;
  std::unique_ptr<grpc::ClientReader<registry::v1::WatchResponse>> reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bool> added_;
  std::vector<std::optional<Clock::time_point>> removed_;
  size_t added_count_ = 0;
  size_t removed_count_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

// The file the client writes its refresh times into, mapped here too.
class SharedTimes {
 public:
  SharedTimes(const std::string& path, size_t count) : count_(count) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(count * sizeof(int64_t))) != 0) {
      throw std::runtime_error("cannot create " + path);
    }
    mapped_ = mmap(nullptr, count * sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (mapped_ == MAP_FAILED) throw std::runtime_error("cannot map " + path);
  }
  ~SharedTimes() { munmap(mapped_, count_ * sizeof(int64_t)); }
  SharedTimes(const SharedTimes&) = delete;
  SharedTimes& operator=(const SharedTimes&) = delete;

  Clock::time_point At(size_t index) const {
    const auto* times = static_cast<const std::atomic<int64_t>*>(mapped_);
    return Clock::time_point(std::chrono::nanoseconds(times[index].load()));
  }

 private:
  size_t count_;
  void* mapped_;
};

}  // namespace

Phase MeasureSessionDetection(const Target& target, ClientFault fault, size_t sessions,
                              std::chrono::milliseconds ttl) {
  const bool kill_it = fault == ClientFault::kKill;
  const std::string service = kill_it ? "session-detect-kill" : "session-detect-stop";
  TempDir dir("registry_bench_sessions_");
  const std::string times_path = dir.path() + "/sent_at";
  SharedTimes sent_at(times_path, sessions);
  RemovalWatch watch(target.channels->Open(target.address), service, sessions);
  // Grace 0 for the kill: the reset alone must end the session.
  SpawnedServer client(target.client_cpus,
                       {std::filesystem::read_symlink("/proc/self/exe").string(), kSessionClientCommand,
                        target.address, std::to_string(sessions), std::to_string(ttl.count()),
                        kill_it ? "0" : std::to_string(ttl.count()), service, times_path},
                       {"sessions open", target.address});
  if (!watch.WaitAdded(sessions, Clock::now() + std::chrono::seconds(30))) {
    throw std::runtime_error("the detection client's instances did not all show in a Watch");
  }
  // A round of refreshes first: the sessions are past their opening.
  std::this_thread::sleep_for(ttl / 2);
  const Clock::time_point fault_at = Clock::now();
  kill(client.pid(), kill_it ? SIGKILL : SIGSTOP);
  const bool all_removed = watch.WaitRemoved(sessions, fault_at + 2 * ttl + std::chrono::seconds(10));
  const std::vector<std::optional<Clock::time_point>> removed = watch.Removed();

  Phase phase{kill_it ? "session-detect-kill" : "session-detect-stop", {}, {}, {}, {}};
  LoadResult& load = phase.load;
  Clock::time_point last = fault_at;
  for (size_t i = 0; i < sessions; ++i) {
    ++load.calls;
    if (!removed[i]) {
      ++load.errors[grpc::StatusCode::DEADLINE_EXCEEDED];
      continue;
    }
    last = std::max(last, *removed[i]);
    // Stopped: the session's TTL ran from its last refresh (sent then or before the server saw it).
    const Clock::time_point bound_from = kill_it ? fault_at : sent_at.At(i) + ttl;
    if (*removed[i] < bound_from) {
      ++load.errors[grpc::StatusCode::FAILED_PRECONDITION];
      continue;
    }
    load.latencies_us.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(*removed[i] - bound_from).count()));
  }
  load.seconds = std::chrono::duration<double>(last - fault_at).count();
  load.SortLatencies();
  phase.figures.emplace_back("ttl_ms", static_cast<double>(ttl.count()));
  phase.figures.emplace_back("all_removed", all_removed ? 1 : 0);
  if (!kill_it) kill(client.pid(), SIGKILL);  // stopped: SIGTERM would wait
  return phase;
}

}  // namespace registryd::bench
