// grpc.health.v1.Health/Watch: what one stream sends.
#include <grpcpp/impl/codegen/proto_utils.h>

#include "server/rpcs/health_rpcs.h"

namespace registryd {

grpc::Status HealthResponses::Open(const Request& request) {
  service_ = request.service();
  return grpc::Status::OK;
}

bool HealthResponses::Next(grpc::ByteBuffer& response) {
  const HealthStatus::Reading reading = health_.Read(service_);
  if (sent_ == reading.status) {
    final_sent_ = reading.final;
    return false;
  }
  sent_ = reading.status;
  grpc::health::v1::HealthCheckResponse message;
  message.set_status(reading.status);
  bool own_buffer = false;
  (void)grpc::SerializationTraits<grpc::health::v1::HealthCheckResponse>::Serialize(message, &response, &own_buffer);
  return true;
}

std::optional<grpc::Status> HealthResponses::Ended() const {
  if (!final_sent_) return std::nullopt;
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "registryd is shutting down");
}

}  // namespace registryd
