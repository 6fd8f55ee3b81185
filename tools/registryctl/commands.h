// registryctl's subcommands. Each returns the process's exit code: 0 done, 1
// the registry refused or could not be reached (after printing one line to
// stderr saying why).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>

#include "client/client_tls.h"

namespace registryd::ctl {

struct Connection {
  std::string target = "localhost:50051";
  std::chrono::milliseconds timeout{5'000};  // per call
  std::optional<ChannelFactory> channels;    // plaintext or TLS, as the flags say
  std::string bearer_token;                  // --token-file's; empty: none

  std::shared_ptr<grpc::Channel> Channel() const { return channels->Open(target); }
  // Every call's context goes through here: it carries the bearer token, if any.
  void Prepare(grpc::ClientContext& context) const {
    if (!bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + bearer_token);
  }
};

struct RegisterArgs {
  std::string service;
  std::string address;
  std::string instance_id;
  std::vector<std::string> metadata;  // "key=value"
  std::chrono::milliseconds ttl{0};    // 0: the server's default
  bool overloaded = false;
};

int Register(const Connection& connection, const RegisterArgs& args);
int Heartbeat(const Connection& connection, uint64_t lease, bool overloaded);
int Deregister(const Connection& connection, uint64_t lease);
int Discover(const Connection& connection, const std::string& service, bool exclude_overloaded, bool json);
int ListServices(const Connection& connection, bool json);
// The sessions open now: id, instances, TTL left, peer.
int ListSessions(const Connection& connection, bool json);
int Health(const Connection& connection, const std::string& service);

struct KeepArgs {
  RegisterArgs registration;
  bool bind_to_stream = false;
  // --session: every instance below in one session (registration.ttl is
  // the session's TTL).
  bool session = false;
  std::vector<std::string> instances;  // "SERVICE ADDRESS [INSTANCE_ID] [key=value]..."
  std::string instances_file;          // the same, one per line; # comments
  std::optional<std::chrono::milliseconds> grace;
};
// Registers, renews over a KeepAlive stream, registers again after NOT_FOUND
// or a lost registry, and deregisters on SIGINT/SIGTERM.
int Keep(const Connection& connection, const KeepArgs& args);
// keep --session: opens a session with every instance, keeps it alive,
// resumes it on a new stream when the old one is lost (opens a new one and
// registers again when it expired), and closes it on SIGINT/SIGTERM.
int KeepSession(const Connection& connection, const KeepArgs& args);

struct WatchArgs {
  std::string service;  // empty: every service
  uint64_t since_revision = 0;
  bool json = false;
};
// Prints the snapshot, then a line per change, until interrupted.
int Watch(const Connection& connection, const WatchArgs& args);

// "0x..." or decimal lease ids, as Register prints them.
bool ParseLease(const std::string& text, uint64_t* lease);

}  // namespace registryd::ctl
