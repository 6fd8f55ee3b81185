#include "bench/spawned_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace registryd::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

uint64_t StatusFieldKb(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return 0;
}

}  // namespace

SpawnedServer::SpawnedServer(const std::string& cpus, std::vector<std::string> command, Readiness readiness) {
  char log_template[] = "/tmp/registry_bench_server_XXXXXX";
  const int log_fd = mkstemp(log_template);
  if (log_fd < 0) throw std::runtime_error("cannot create a log file in /tmp");
  log_path_ = log_template;

  std::vector<std::string> argv = {"taskset", "-c", cpus};
  argv.insert(argv.end(), command.begin(), command.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(log_fd, STDERR_FILENO);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  if (pid_ < 0) throw std::runtime_error("fork failed");

  const std::regex ready(readiness.pattern);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    std::smatch match;
    const std::string log = ReadFile(log_path_);
    if (std::regex_search(log, match, ready)) {
      address_ = readiness.address.empty() ? match[1].str() : readiness.address;
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("server exited at start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  throw std::runtime_error("server was not ready within 30 s: " + ReadFile(log_path_));
}

SpawnedServer::~SpawnedServer() {
  Stop();
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

std::string SpawnedServer::Log() const { return ReadFile(log_path_); }

void SpawnedServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (waitpid(pid_, &status, WNOHANG) == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

void SpawnedServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

double ProcessCpuSeconds(pid_t pid) {
  // The process's CPU clock counts in nanoseconds, /proc's in clock ticks.
  clockid_t clock;
  timespec now;
  if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &now) == 0) {
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
  }
  // Fields 14 and 15 of /proc/PID/stat (after the parenthesised name).
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) {
      stime = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t ProcessPeakRssBytes(pid_t pid) { return StatusFieldKb(pid, "VmHWM") * 1024; }

uint64_t ProcessRssBytes(pid_t pid) { return StatusFieldKb(pid, "VmRSS") * 1024; }

int FreeLoopbackPort() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool bound = bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                     getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(socket_fd);
  if (!bound) throw std::runtime_error("no free loopback port");
  return ntohs(address.sin_port);
}

}  // namespace registryd::bench
