// Which peers' answers wait unsent: every pool asked, TCP peers only, each
// once, named as the socket resets take them.
#include "server/queue/unsent_answers.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace registryd {
namespace {

TEST(TcpPeerAddressTest, NamesTheAddressOfATcpPeerOnly) {
  EXPECT_EQ(TcpPeerAddress("ipv4:127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(TcpPeerAddress("ipv6:[::1]:5000"), "[::1]:5000");
  EXPECT_EQ(TcpPeerAddress("unix:/run/registryd.sock"), "");
  EXPECT_EQ(TcpPeerAddress("inproc"), "");
  EXPECT_EQ(TcpPeerAddress(""), "");
}

TEST(UnsentAnswersTest, AsksEveryPoolWithTheBoundAndNamesEachTcpPeerOnce) {
  const TimePoint now{std::chrono::seconds(100)};
  UnsentAnswers unsent;
  std::vector<TimePoint> asked;
  unsent.Add([&](TimePoint before, std::vector<std::string>& peers) {
    asked.push_back(before);
    peers.push_back("ipv4:127.0.0.1:5001");
    peers.push_back("ipv6:[::1]:5002");
    peers.push_back("ipv4:127.0.0.1:5001");  // two calls of one connection
  });
  unsent.Add([&](TimePoint before, std::vector<std::string>& peers) {
    asked.push_back(before);
    peers.push_back("inproc");  // registryd's own renewal probe: no socket
    peers.push_back("ipv4:127.0.0.1:5001");  // another method's call on it
    peers.push_back("ipv4:127.0.0.1:5003");
  });
  EXPECT_EQ(unsent.PeersWaitingSince(now), (std::vector<std::string>{"127.0.0.1:5001", "127.0.0.1:5003", "[::1]:5002"}));
  EXPECT_EQ(asked, (std::vector<TimePoint>{now, now}));
}

TEST(UnsentAnswersTest, NoPoolNoPeer) {
  EXPECT_TRUE(UnsentAnswers().PeersWaitingSince(TimePoint{}).empty());
}

}  // namespace
}  // namespace registryd
