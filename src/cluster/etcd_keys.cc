#include "cluster/etcd_keys.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace registryd::cluster {
namespace {

constexpr std::string_view kInstances = "instances/";
constexpr std::string_view kSeeds = "seeds/";
constexpr std::string_view kNodes = "nodes/";
constexpr std::string_view kSessions = "sessions/";

// etcd's range end for "every key that starts with `prefix`": the prefix with
// its last byte below 0xff plus one, the rest dropped ("\0": all keys).
std::string EndOfKeysStartingWith(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(end.back() + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string Escape(std::string_view service) {
  std::string escaped;
  escaped.reserve(service.size());
  for (const char c : service) {
    if (c == '%') {
      escaped += "%25";
    } else if (c == '/') {
      escaped += "%2F";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::optional<std::string> Unescape(std::string_view escaped) {
  std::string service;
  service.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] != '%') {
      service += escaped[i];
      continue;
    }
    const std::string_view code = escaped.substr(i + 1, 2);
    if (code == "25") {
      service += '%';
    } else if (code == "2F") {
      service += '/';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return service;
}

constexpr int kBuckets = 256;

// Two hex digits of FNV-1a: the same on every node, whatever its build.
std::string Bucket(std::string_view rest) {
  uint32_t hash = 2166136261u;
  for (const char c : rest) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  constexpr char kHex[] = "0123456789abcdef";
  const uint32_t bucket = hash % kBuckets;
  return {kHex[bucket >> 4], kHex[bucket & 0xf]};
}

bool IsBucket(std::string_view key) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return key.size() > 3 && hex(key[0]) && hex(key[1]) && key[2] == '/';
}

}  // namespace

InstanceKey KeyOf(const RegisterSpec& spec) {
  if (spec.seed_id) return InstanceKey{"", std::to_string(*spec.seed_id), spec.seed_id};
  return InstanceKey{spec.service, spec.instance_id, std::nullopt};
}

std::string EtcdKeys::Instance(const InstanceKey& key) const {
  if (key.seed_id) {
    const std::string id = std::to_string(*key.seed_id);
    return prefix_ + std::string(kSeeds) + Bucket(id) + "/" + id;
  }
  const std::string rest = Escape(key.service) + "/" + key.instance_id;
  return prefix_ + std::string(kInstances) + Bucket(rest) + "/" + rest;
}

std::vector<EtcdKeys::Range> EtcdKeys::KindRanges() const {
  std::vector<Range> ranges;
  for (const std::string_view kind : {kNodes, kSessions, kInstances, kSeeds}) {
    std::string key = prefix_ + std::string(kind);
    std::string end = EndOfKeysStartingWith(key);
    ranges.push_back(Range{std::move(key), std::move(end)});
  }
  return ranges;
}

std::vector<EtcdKeys::Range> EtcdKeys::BucketRanges(const Range& kind) const {
  std::vector<Range> ranges;
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    std::string key = fmt::format("{}{:02x}/", kind.key, bucket);
    std::string end = EndOfKeysStartingWith(key);
    ranges.push_back(Range{std::move(key), std::move(end)});
  }
  return ranges;
}

std::string EtcdKeys::Node(std::string_view name) const { return prefix_ + std::string(kNodes) + std::string(name); }

std::string EtcdKeys::Session(SessionId id) const {
  const std::string rest = fmt::format("{:016x}", id);
  return prefix_ + std::string(kSessions) + Bucket(rest) + "/" + rest;
}

std::string EtcdKeys::PrefixEnd() const { return EndOfKeysStartingWith(prefix_); }

EtcdKeys::Parsed EtcdKeys::Parse(std::string_view key) const {
  if (!key.starts_with(prefix_)) return std::monostate{};
  key.remove_prefix(prefix_.size());
  if (key.starts_with(kInstances)) {
    key.remove_prefix(kInstances.size());
    if (!IsBucket(key)) return std::monostate{};
    key.remove_prefix(3);
    const size_t slash = key.find('/');
    if (slash == std::string_view::npos) return std::monostate{};
    std::optional<std::string> service = Unescape(key.substr(0, slash));
    if (!service || service->empty() || slash + 1 == key.size()) return std::monostate{};
    return InstanceKey{*std::move(service), std::string(key.substr(slash + 1)), std::nullopt};
  }
  if (key.starts_with(kSeeds)) {
    key.remove_prefix(kSeeds.size());
    if (!IsBucket(key)) return std::monostate{};
    key.remove_prefix(3);
    const std::optional<int32_t> seed_id = SeedIdOf(key);
    if (!seed_id) return std::monostate{};
    return InstanceKey{"", std::string(key), seed_id};
  }
  if (key.starts_with(kNodes)) {
    key.remove_prefix(kNodes.size());
    if (key.empty()) return std::monostate{};
    return NodeKey{std::string(key)};
  }
  if (key.starts_with(kSessions)) {
    key.remove_prefix(kSessions.size());
    if (!IsBucket(key)) return std::monostate{};
    key.remove_prefix(3);
    // As written: 16 lower-case hex digits.
    const bool canonical = key.size() == 16 && std::all_of(key.begin(), key.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    SessionId id = kNoSession;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), id, 16);
    if (!canonical || error != std::errc() || end != key.data() + key.size() || id == kNoSession) {
      return std::monostate{};
    }
    return SessionKey{id};
  }
  if (key == "removal-reason") return RemovalMarkerKey{};
  return std::monostate{};
}

}  // namespace registryd::cluster
