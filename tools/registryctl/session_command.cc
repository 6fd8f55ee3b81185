// registryctl keep --session: one process keeps many instances (a host
// agent). Opens a session, registers every instance in it, sends a
// keep_alive every TTL/3; when the stream is lost, resumes the session on a
// new one with its token (watchers see nothing), and when the session is
// gone (it expired, or registryd restarted), opens a new one and registers
// again. SIGINT/SIGTERM closes the session: its instances go at once.
#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/core.h>

#include "registry/v1/registry.grpc.pb.h"
#include "tools/registryctl/commands.h"
#include "tools/registryctl/outage_retry.h"
#include "tools/registryctl/output.h"
#include "tools/registryctl/watchdog.h"

namespace registryd::ctl {
namespace {

using registry::v1::SessionRequest;
using registry::v1::SessionResponse;
using Stream = grpc::ClientReaderWriter<SessionRequest, SessionResponse>;

// One session stream and its end, finished once.
struct SessionCall {
  std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
  std::unique_ptr<Stream> stream;
  std::optional<grpc::Status> end;

  // After a failed read or write the stream is over: Finish returns at
  // once, with the server's status (a cancel first would replace it).
  grpc::Status End() {
    if (!end) end = stream->Finish();
    return *end;
  }
};

constexpr int kInstancesPerRequest = 1000;  // the server's bound per request

// "SERVICE ADDRESS [INSTANCE_ID] [key=value]...": an instance id has no '='.
bool ParseInstance(const std::string& line, const std::string& where, RegisterArgs& args) {
  std::istringstream words(line);
  std::string word;
  std::vector<std::string> fields;
  while (words >> word) fields.push_back(word);
  if (fields.size() < 2) {
    fmt::print(stderr, "registryctl: {}: expected SERVICE ADDRESS [INSTANCE_ID] [key=value]... (got \"{}\")\n",
               where, line);
    return false;
  }
  args.service = fields[0];
  args.address = fields[1];
  for (size_t i = 2; i < fields.size(); ++i) {
    if (i == 2 && fields[i].find('=') == std::string::npos) {
      args.instance_id = fields[i];
    } else {
      args.metadata.push_back(fields[i]);
    }
  }
  return true;
}

// The instances of --instance and --instances-file; false after saying why.
bool ReadInstances(const KeepArgs& args, std::vector<registry::v1::RegisterRequest>& out) {
  std::vector<std::pair<std::string, std::string>> lines;  // (text, where)
  for (const std::string& instance : args.instances) lines.emplace_back(instance, "--instance");
  if (!args.instances_file.empty()) {
    std::ifstream file(args.instances_file);
    if (!file) {
      fmt::print(stderr, "registryctl: --instances-file {}: cannot read it\n", args.instances_file);
      return false;
    }
    std::string line;
    for (int number = 1; std::getline(file, line); ++number) {
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      lines.emplace_back(line, fmt::format("{}:{}", args.instances_file, number));
    }
  }
  for (const auto& [text, where] : lines) {
    RegisterArgs instance;
    instance.overloaded = args.registration.overloaded;
    if (!ParseInstance(text, where, instance) || !BuildRegisterRequest(instance, &out.emplace_back())) return false;
  }
  if (out.empty()) {
    fmt::print(stderr, "registryctl: keep --session: no instance (use --instance or --instances-file)\n");
    return false;
  }
  return true;
}

class SessionKeeper {
 public:
  SessionKeeper(const Connection& connection, const KeepArgs& args)
      : connection_(connection), args_(args), stub_(registry::v1::Registry::NewStub(connection.Channel())) {}

  int Run() {
    if (!ReadInstances(args_, instances_)) return 2;
    OutageRetry retry(connection_, "keep --session", "keep --session");
    while (!watchdog_.stop_requested()) {
      SessionCall call;
      connection_.Prepare(*call.context);
      watchdog_.Track(call.context.get(), Clock::now() + connection_.timeout);  // opening may wait for the connection
      call.stream = stub_->Session(call.context.get());
      const grpc::Status started = Start(call);
      watchdog_.Untrack();
      if (!started.ok()) {
        call.End();
        if (started.error_code() == grpc::StatusCode::NOT_FOUND && session_id_ == 0) continue;  // open anew
        if (const std::optional<int> failed = retry.Failed(started, watchdog_)) return *failed;
        continue;
      }
      retry.Succeeded();
      if (KeepUntilLost(call)) return Close(call);
      call.End();
    }
    return 0;
  }

 private:
  // One request, its response; the stream's status when it ended instead.
  grpc::Status Exchange(SessionCall& call, SessionRequest& request, SessionResponse& response) {
    request.set_request_id(++request_id_);
    if (call.stream->Write(request) && call.stream->Read(&response)) return grpc::Status::OK;
    return call.End();
  }

  // Resumes the session this process holds, or opens one and registers
  // every instance in it.
  grpc::Status Start(SessionCall& call) {
    SessionResponse response;
    if (session_id_ != 0) {
      SessionRequest resume;
      resume.mutable_resume()->set_session_id(session_id_);
      resume.mutable_resume()->set_token(token_);
      const grpc::Status resumed = Exchange(call, resume, response);
      if (resumed.ok()) {
        fmt::print("resumed session {} with {} instance(s)\n", FormatLease(session_id_), response.opened().instances());
        std::fflush(stdout);
        return resumed;
      }
      if (resumed.error_code() != grpc::StatusCode::NOT_FOUND) return resumed;
      fmt::print(stderr, "registryctl: keep --session: the session was gone (it expired, or the registry "
                         "restarted); opening a new session\n");
      session_id_ = 0;
      return resumed;  // a new one opens on a new stream
    }
    SessionRequest open;
    open.mutable_open()->set_ttl_ms(static_cast<uint32_t>(args_.registration.ttl.count()));
    if (args_.grace) open.mutable_open()->set_grace_ms(static_cast<uint32_t>(args_.grace->count()));
    if (grpc::Status opened = Exchange(call, open, response); !opened.ok()) return opened;
    session_id_ = response.opened().session_id();
    token_ = response.opened().token();
    ttl_ms_ = response.opened().ttl_ms();
    fmt::print("opened session {} ttl {} grace {}\n", FormatLease(session_id_), FormatMillis(ttl_ms_),
               FormatMillis(response.opened().grace_ms()));
    for (size_t first = 0; first < instances_.size(); first += kInstancesPerRequest) {
      SessionRequest registration;
      const size_t last = std::min(instances_.size(), first + kInstancesPerRequest);
      for (size_t i = first; i < last; ++i) *registration.mutable_register_()->add_instances() = instances_[i];
      watchdog_.Track(call.context.get(), Clock::now() + connection_.timeout);
      if (grpc::Status registered = Exchange(call, registration, response); !registered.ok()) return registered;
      for (size_t i = first; i < last; ++i) {
        const registry::v1::InstanceResult& result = response.registered().results(static_cast<int>(i - first));
        registry::v1::RegisterRequest& instance = instances_[i];
        if (result.code() != 0) {
          fmt::print(stderr, "registryctl: keep --session: {}/{}: {}: {}\n", instance.service(),
                     instance.instance_id(), CodeName(static_cast<grpc::StatusCode>(result.code())),
                     result.message());
          continue;
        }
        instance.set_instance_id(result.instance_id());  // registering again keeps the id
        fmt::print("registered {}/{} lease {}\n", instance.service(), result.instance_id(),
                   FormatLease(result.lease_id()));
      }
    }
    std::fflush(stdout);
    return grpc::Status::OK;
  }

  // keep_alive every TTL/3; true on a stop, false when the stream was lost.
  bool KeepUntilLost(SessionCall& call) {
    const auto interval =
        std::max<Clock::duration>(std::chrono::milliseconds(ttl_ms_) / 3, std::chrono::milliseconds(100));
    for (;;) {
      if (watchdog_.WaitFor(interval)) return true;
      SessionRequest keep_alive;
      keep_alive.mutable_keep_alive();
      SessionResponse response;
      // An answer later than one interval means the registry is gone.
      watchdog_.Track(call.context.get(), Clock::now() + std::max<Clock::duration>(interval, connection_.timeout));
      const grpc::Status kept = Exchange(call, keep_alive, response);
      watchdog_.Untrack();
      if (watchdog_.stop_requested()) return true;
      if (!kept.ok()) {
        if (kept.error_code() == grpc::StatusCode::NOT_FOUND) session_id_ = 0;  // expired meanwhile
        fmt::print(stderr, "registryctl: keep --session: lost the registry ({}); {}\n", CodeName(kept.error_code()),
                   session_id_ != 0 ? "resuming the session" : "opening a new session");
        return false;
      }
    }
  }

  int Close(SessionCall& call) {
    SessionRequest close;
    close.mutable_close();
    SessionResponse response;
    watchdog_.Track(call.context.get(), Clock::now() + connection_.timeout, /*cancel_on_stop=*/false);
    grpc::Status closed = Exchange(call, close, response);
    watchdog_.Untrack();
    if (closed.ok()) {
      call.stream->WritesDone();
      closed = call.stream->Finish();
      call.end = closed;
    }
    if (!closed.ok()) return Failed(connection_, "keep --session: close", closed);
    fmt::print("closed session {}\n", FormatLease(session_id_));
    return 0;
  }

  const Connection& connection_;
  const KeepArgs& args_;
  std::unique_ptr<registry::v1::Registry::Stub> stub_;
  Watchdog watchdog_;
  std::vector<registry::v1::RegisterRequest> instances_;
  uint64_t session_id_ = 0;
  std::string token_;
  uint32_t ttl_ms_ = 0;
  uint64_t request_id_ = 0;
};

}  // namespace

int KeepSession(const Connection& connection, const KeepArgs& args) { return SessionKeeper(connection, args).Run(); }

}  // namespace registryd::ctl
