#include "dns/answer_cache.h"

#include <algorithm>

namespace registryd::dns {
namespace {

constexpr size_t kHeaderSize = 12;

// The length of the uncompressed name at `at` (its labels and the root's
// zero), or 0 when there is none whole there.
size_t NameLength(std::span<const uint8_t> message, size_t at) {
  size_t length = 0;
  while (at + length < message.size()) {
    const uint8_t label = message[at + length];
    if (label == 0) return length + 1;
    if (label > 63) return 0;  // a pointer or an extended label: not a name as built
    length += 1 + label;
  }
  return 0;
}

}  // namespace

std::optional<std::string> AnswerCache::Find(const Key& key, uint64_t revision,
                                             std::span<const uint8_t> query) const {
  const auto found = entries_.find(key);
  if (found == entries_.end() || found->second.revision != revision) return std::nullopt;
  const std::string& stored = found->second.answer;
  const std::span<const uint8_t> stored_bytes(reinterpret_cast<const uint8_t*>(stored.data()), stored.size());
  const size_t name = NameLength(query, kHeaderSize);
  if (name == 0 || NameLength(stored_bytes, kHeaderSize) != name) return std::nullopt;
  std::string answer = stored;
  answer[0] = static_cast<char>(query[0]);
  answer[1] = static_cast<char>(query[1]);
  answer[2] = static_cast<char>((answer[2] & ~0x01) | (query[2] & 0x01));
  std::copy_n(query.begin() + kHeaderSize, name, answer.begin() + kHeaderSize);
  return answer;
}

void AnswerCache::Store(Key key, uint64_t revision, std::string answer) {
  if (bytes_ + answer.size() > kMaxCachedBytes) {
    entries_.clear();
    bytes_ = 0;
  }
  Entry& entry = entries_[std::move(key)];
  bytes_ += answer.size();
  bytes_ -= entry.answer.size();
  entry = Entry{revision, std::move(answer)};
}

}  // namespace registryd::dns
