#include "server/rpcs/discover_reply_cache.h"

#include <algorithm>

namespace registryd {

const grpc::ByteBuffer* DiscoverReplyCache::Find(std::string_view service, bool exclude_overloaded,
                                                 uint64_t revision, TimePoint now) const {
  const Entries& entries = exclude_overloaded ? excluding_overloaded_ : all_;
  const auto it = entries.find(service);
  if (it == entries.end() || it->second.revision != revision || now >= it->second.valid_until) return nullptr;
  return &it->second.reply;
}

void DiscoverReplyCache::Store(std::string_view service, bool exclude_overloaded, uint64_t revision,
                               TimePoint built, TimePoint first_deadline, grpc::ByteBuffer reply) {
  Entries& entries = EntriesFor(exclude_overloaded);
  if (const auto it = entries.find(service); it != entries.end()) {
    bytes_ -= it->second.bytes;
    entries.erase(it);
  }
  const size_t bytes = reply.Length() + service.size();
  if (!MakeRoom(bytes, built)) return;
  bytes_ += bytes;
  entries.insert_or_assign(std::string(service),
                           Entry{revision, std::min(built + max_age_, first_deadline), std::move(reply), bytes});
}

bool DiscoverReplyCache::MakeRoom(size_t bytes, TimePoint now) {
  if (bytes > max_bytes_) return false;
  if (bytes_ + bytes <= max_bytes_) return true;
  for (Entries* entries : {&all_, &excluding_overloaded_}) {
    absl::erase_if(*entries, [&](const auto& item) {
      if (now < item.second.valid_until) return false;
      bytes_ -= item.second.bytes;
      return true;
    });
  }
  if (bytes_ + bytes <= max_bytes_) return true;
  // Everything is current and the cache is full: start over rather than
  // track recency on every hit.
  all_.clear();
  excluding_overloaded_.clear();
  bytes_ = 0;
  return true;
}

}  // namespace registryd
