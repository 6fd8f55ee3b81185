#include "server/queue/unsent_answers.h"

#include <algorithm>

namespace registryd {

std::string_view TcpPeerAddress(std::string_view grpc_peer) {
  for (const std::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (grpc_peer.starts_with(scheme)) return grpc_peer.substr(scheme.size());
  }
  return {};
}

std::vector<std::string> UnsentAnswers::PeersWaitingSince(TimePoint before) const {
  std::vector<std::string> peers;
  for (const Source& source : sources_) source(before, peers);
  std::vector<std::string> addresses;
  for (const std::string& peer : peers) {
    const std::string_view address = TcpPeerAddress(peer);
    if (!address.empty()) addresses.emplace_back(address);
  }
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  return addresses;
}

}  // namespace registryd
