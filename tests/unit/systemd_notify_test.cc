// registryd's notifications to systemd, received on a datagram socket of the
// test's own named by $NOTIFY_SOCKET, as systemd's own would.
#include "daemon/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "core/queue_watchdog.h"

namespace registryd::daemon {
namespace {

using std::chrono::milliseconds;

class NotifySocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "notify-" + std::to_string(getpid());
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof(address.sun_path));
    path_.copy(address.sun_path, path_.size());
    ASSERT_EQ(bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd_);
    unlink(path_.c_str());
  }

  // The datagrams sent so far, without waiting: sd_notify has sent its
  // datagram when it returns.
  std::vector<std::string> Received() {
    std::vector<std::string> datagrams;
    char buffer[4096];
    for (;;) {
      const ssize_t got = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (got < 0) return datagrams;
      datagrams.emplace_back(buffer, static_cast<size_t>(got));
    }
  }

  std::string path_;
  int fd_ = -1;
};

TEST_F(NotifySocketTest, ReadyReloadingAndStoppingReachTheSocket) {
  NotifyReady("serving on 127.0.0.1:50051");
  NotifyReloading();
  NotifyReady("serving on 127.0.0.1:50051");
  NotifyStopping();
  const std::vector<std::string> got = Received();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "READY=1\nSTATUS=serving on 127.0.0.1:50051");
  EXPECT_TRUE(got[1].starts_with("RELOADING=1\nMONOTONIC_USEC=")) << got[1];
  EXPECT_GT(std::stoull(got[1].substr(got[1].find('=', 12) + 1)), 0u);
  EXPECT_TRUE(got[2].starts_with("READY=1"));
  EXPECT_EQ(got[3], "STOPPING=1");
}

TEST_F(NotifySocketTest, TheWatchdogIntervalComesFromSystemdsVariablesForThisProcess) {
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  setenv("WATCHDOG_USEC", "4000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::optional<Duration>(std::chrono::seconds(4)));
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt) << "the variables are another process's";
}

TEST_F(NotifySocketTest, WatchdogPingsComeOncePerPeriodAndAStuckQueueStopsThem) {
  ManualClock clock;
  const Duration period = milliseconds(500);
  QueueWatchdog watchdog(2, period, NotifyWatchdog);
  const auto run_period = [&](std::initializer_list<size_t> running) {
    clock.Advance(period);
    for (size_t queue : running) watchdog.Ran(queue, clock.Now());
  };
  for (int i = 0; i < 4; ++i) run_period({0, 1});
  EXPECT_EQ(Received(), std::vector<std::string>(4, "WATCHDOG=1"));
  // Queue 1 stuck: the pings stop once its last report is two periods old.
  for (int i = 0; i < 6; ++i) run_period({0});
  EXPECT_EQ(Received().size(), 2u);
  run_period({0, 1});
  EXPECT_EQ(Received(), std::vector<std::string>{"WATCHDOG=1"});
}

}  // namespace
}  // namespace registryd::daemon
