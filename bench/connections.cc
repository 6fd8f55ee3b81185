#include "bench/backend.h"

namespace registryd::bench {

Connections::Connections(const ChannelFactory& factory, const std::string& address, int count) {
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    arguments.SetInt("grpc.channel_id", i);
    arguments.SetMaxReceiveMessageSize(64 << 20);  // etcd's ranges over big services
    if (address.find(',') != std::string::npos) {
      // Several servers (cluster nodes, etcd members): every call to the next.
      arguments.SetLoadBalancingPolicyName("round_robin");
      channels_.push_back(factory.Open("ipv4:" + address, arguments));
    } else {
      channels_.push_back(factory.Open(address, arguments));
    }
  }
}

bool Connections::WaitConnected() {
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  for (const auto& channel : channels_) {
    if (!channel->WaitForConnected(deadline)) return false;
  }
  return true;
}

bool Connections::WaitDisconnected() {
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  for (const auto& channel : channels_) {
    while (channel->GetState(false) == GRPC_CHANNEL_READY) {
      if (!channel->WaitForStateChange(GRPC_CHANNEL_READY, deadline)) return false;
    }
  }
  return true;
}

}  // namespace registryd::bench
