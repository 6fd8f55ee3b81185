// The kernel's receive queues, read through its socket diagnostics: real
// loopback connections, a manual clock for when each sample is taken.
#include "core/receive_backlog.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "core/disconnect_sockets.h"
#include "core/host_port.h"

namespace registryd {
namespace {

using std::chrono::seconds;

// A listening socket on 127.0.0.1 (or [::1], or IPv4's 127.0.0.1 on an IPv6
// socket: kMapped), one client connected to it and accepted.
constexpr int kMapped = -1;
class Connected {
 public:
  explicit Connected(int family = AF_INET) {
    sockaddr_storage address{};
    socklen_t length = 0;
    if (family == AF_INET6 || family == kMapped) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
      v6.sin6_family = AF_INET6;
      v6.sin6_addr = in6addr_loopback;
      if (family == kMapped) {
        EXPECT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr), 1);
      }
      length = sizeof v6;
    } else {
      auto& v4 = reinterpret_cast<sockaddr_in&>(address);
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof v4;
    }
    auto* any = reinterpret_cast<sockaddr*>(&address);
    listener_ = socket(family == kMapped ? AF_INET6 : family, SOCK_STREAM, 0);
    EXPECT_EQ(bind(listener_, any, length), 0);
    EXPECT_EQ(listen(listener_, 4), 0);
    EXPECT_EQ(getsockname(listener_, any, &length), 0);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in&>(address).sin_port
                                    : reinterpret_cast<sockaddr_in6&>(address).sin6_port);
    if (family == kMapped) {  // the client speaks IPv4
      sockaddr_in v4{};
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      v4.sin_port = htons(port_);
      client_ = socket(AF_INET, SOCK_STREAM, 0);
      EXPECT_EQ(connect(client_, reinterpret_cast<sockaddr*>(&v4), sizeof v4), 0);
    } else {
      client_ = socket(family, SOCK_STREAM, 0);
      EXPECT_EQ(connect(client_, any, length), 0);
    }
    server_ = accept(listener_, nullptr, nullptr);
  }
  ~Connected() {
    close(client_);
    close(server_);
    close(listener_);
  }

  // The client's end as gRPC names a peer: "127.0.0.1:5000", "[::1]:5000".
  std::string ClientName() const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    EXPECT_EQ(getsockname(client_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
      const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
      inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
      return JoinHostPort(text, ntohs(v4.sin_port));
    }
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return JoinHostPort(text, ntohs(v6.sin6_port));
  }
  uint16_t port() const { return port_; }
  int server() const { return server_; }
  int client() const { return client_; }
  void Send(size_t bytes) { EXPECT_EQ(write(client_, std::string(bytes, 'x').data(), bytes), ssize_t(bytes)); }
  void Read(size_t bytes) {
    std::string buffer(bytes, '\0');
    size_t got = 0;
    while (got < bytes) {
      const ssize_t n = read(server_, buffer.data() + got, bytes - got);
      ASSERT_GT(n, 0);
      got += static_cast<size_t>(n);
    }
  }

 private:
  int listener_ = -1;
  int client_ = -1;
  int server_ = -1;
  uint16_t port_ = 0;
};

TEST(ReceiveBacklogTest, TheOldestUnreadBytesAgeFromTheSampleThatFirstSawIt) {
  Connected connection;
  Connected elsewhere;  // another port's unread bytes are not registryd's
  elsewhere.Send(10);
  ManualClock clock;
  ReceiveBacklog backlog(connection.port());
  ASSERT_EQ(backlog.Sample(clock.Now()).value().oldest, Duration::zero()) << "nothing sent";

  connection.Send(100);
  ASSERT_EQ(backlog.Sample(clock.Now()).value().oldest, Duration::zero()) << "just seen";
  clock.Advance(seconds(2));
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, seconds(2));
  connection.Send(50);
  clock.Advance(seconds(1));
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, seconds(3)) << "the first 100 bytes are still unread";

  connection.Read(100);
  clock.Advance(seconds(1));
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, seconds(1)) << "the 50 bytes, first seen a second ago";
  connection.Read(50);
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, Duration::zero());
}

// IPv4 and IPv6 connections come from one dump of the kernel's table.
TEST(ReceiveBacklogTest, IPv6ConnectionsAreSampledToo) {
  Connected connection(AF_INET6);
  ManualClock clock;
  ReceiveBacklog backlog(connection.port());
  connection.Send(100);
  ASSERT_EQ(backlog.Sample(clock.Now()).value().oldest, Duration::zero()) << "just seen";
  clock.Advance(seconds(2));
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, seconds(2));
  connection.Read(100);
  EXPECT_EQ(backlog.Sample(clock.Now()).value().oldest, Duration::zero());
}

TEST(ReceiveBacklogTest, AClosedConnectionIsForgotten) {
  ManualClock clock;
  uint16_t port = 0;
  std::optional<ReceiveBacklog> backlog;
  {
    Connected connection;
    port = connection.port();
    backlog.emplace(port);
    connection.Send(100);
    ASSERT_TRUE(backlog->Sample(clock.Now()).ok());
  }
  clock.Advance(seconds(5));
  EXPECT_EQ(backlog->Sample(clock.Now()).value().oldest, Duration::zero());
}

uint64_t InodeOf(int fd) {
  struct stat status{};
  EXPECT_EQ(fstat(fd, &status), 0);
  return status.st_ino;
}

TEST(ReceiveBacklogTest, AConnectionWhoseOldestUnreadByteWaitedLongerThanTheBoundIsStale) {
  Connected connection;
  ManualClock clock;
  ReceiveBacklog backlog(connection.port(), seconds(2));
  connection.Send(100);
  ASSERT_TRUE(backlog.Sample(clock.Now()).value().stale.empty());
  clock.Advance(seconds(2));
  EXPECT_TRUE(backlog.Sample(clock.Now()).value().stale.empty()) << "2s is not over the bound";
  clock.Advance(seconds(1));
  EXPECT_EQ(backlog.Sample(clock.Now()).value().stale, std::vector<uint64_t>{InodeOf(connection.server())});

  connection.Read(100);
  clock.Advance(seconds(1));
  EXPECT_TRUE(backlog.Sample(clock.Now()).value().stale.empty()) << "read since";
}

TEST(ReceiveBacklogTest, NoConnectionIsStaleWithoutABound) {
  Connected connection;
  ManualClock clock;
  ReceiveBacklog backlog(connection.port());
  connection.Send(100);
  ASSERT_TRUE(backlog.Sample(clock.Now()).ok());
  clock.Advance(std::chrono::hours(1));
  const BacklogSample sample = backlog.Sample(clock.Now()).value();
  EXPECT_EQ(sample.oldest, std::chrono::hours(1));
  EXPECT_TRUE(sample.stale.empty());
}

TEST(DisconnectSocketsTest, AResetConnectionLosesItsUnreadBytesAndBothEndsSeeTheReset) {
  Connected stale;
  Connected other;
  stale.Send(100);
  other.Send(100);

  EXPECT_EQ(DisconnectSockets({InodeOf(stale.server())}), 1u);

  char byte = 0;
  EXPECT_EQ(read(stale.server(), &byte, 1), -1) << "the unread bytes are gone";
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(read(stale.client(), &byte, 1), -1) << "the client got a reset";
  EXPECT_EQ(errno, ECONNRESET);
  other.Read(100);  // untouched
}

TEST(DisconnectSocketsTest, ResetsNothingItWasNotAskedFor) {
  Connected connection;
  connection.Send(10);
  EXPECT_EQ(DisconnectSockets({}), 0u);
  EXPECT_EQ(DisconnectSockets({InodeOf(connection.server()) + 1000000}), 0u) << "no socket has that inode";
  connection.Read(10);
}

// Read after a reset: -1 with ECONNRESET.
void ExpectReset(int fd, const char* which) {
  char byte = 0;
  EXPECT_EQ(read(fd, &byte, 1), -1) << which;
  EXPECT_EQ(errno, ECONNRESET) << which;
}

// These connections' server ends have sent nothing: quiet for any time.
constexpr std::chrono::milliseconds kNever{0};

TEST(DisconnectPeersTest, ResetsTheConnectionsFromThosePeersOnThatPort) {
  Connected v4;
  Connected v6(AF_INET6);
  Connected other;
  Connected mapped(kMapped);
  for (Connected* connection : {&v4, &v6, &other, &mapped}) connection->Send(10);

  EXPECT_EQ(DisconnectPeers(v4.port(), {v4.ClientName(), "127.0.0.1:1"}, kNever), 1u);
  ExpectReset(v4.server(), "the IPv4 client's connection");
  ExpectReset(v4.client(), "the IPv4 client");
  EXPECT_EQ(DisconnectPeers(v6.port(), {v6.ClientName()}, kNever), 1u);
  ExpectReset(v6.client(), "the IPv6 client");
  EXPECT_EQ(DisconnectPeers(mapped.port(), {mapped.ClientName()}, kNever), 1u)
      << "an IPv4 client of an IPv6 socket is named by its IPv4 address, as gRPC names it";
  ExpectReset(mapped.client(), "the IPv4 client of an IPv6 socket");
  other.Read(10);  // untouched
}

TEST(DisconnectPeersTest, ResetsNothingOnAnotherPortOrForAnotherPeer) {
  Connected connection;
  Connected elsewhere;
  connection.Send(10);
  EXPECT_EQ(DisconnectPeers(connection.port(), {}, kNever), 0u);
  EXPECT_EQ(DisconnectPeers(elsewhere.port(), {connection.ClientName()}, kNever), 0u) << "that peer is on another port";
  EXPECT_EQ(DisconnectPeers(connection.port(), {elsewhere.ClientName()}, kNever), 0u) << "that peer is elsewhere";
  connection.Read(10);
}

// Bytes the kernel holds to send on `fd`: not sent, or not acknowledged.
int Unsent(int fd) {
  int unsent = -1;
  EXPECT_EQ(ioctl(fd, SIOCOUTQ, &unsent), 0);
  return unsent;
}

TEST(DisconnectPeersTest, KeepsAConnectionThatIsStillSending) {
  Connected connection;
  // The client reads nothing: the server's writes fill both ends' buffers,
  // and the rest stays in its send queue.
  const std::string answer(64 * 1024, 'a');
  ASSERT_EQ(fcntl(connection.server(), F_SETFL, O_NONBLOCK), 0);
  while (write(connection.server(), answer.data(), answer.size()) > 0) {
  }
  ASSERT_GT(Unsent(connection.server()), 0);
  EXPECT_EQ(DisconnectPeers(connection.port(), {connection.ClientName()}, std::chrono::hours(1)), 0u)
      << "it holds bytes to send and sent some just now: slow, maybe, but not stuck";
  EXPECT_EQ(DisconnectPeers(connection.port(), {connection.ClientName()}, kNever), 1u) << "quiet for 0 ms";
}

TEST(DisconnectPeersTest, ResetsAConnectionWhoseKernelHoldsNothingToSend) {
  Connected connection;
  ASSERT_EQ(write(connection.server(), "answer", 6), 6);
  for (int i = 0; i < 1000 && Unsent(connection.server()) > 0; ++i) usleep(1000);  // acknowledged at once on loopback
  ASSERT_EQ(Unsent(connection.server()), 0);
  EXPECT_EQ(DisconnectPeers(connection.port(), {connection.ClientName()}, std::chrono::hours(1)), 1u)
      << "it sent data just now, but nothing waits to be sent: what waits is held above the kernel";
}

}  // namespace
}  // namespace registryd
