// The registry against a reference model. Each input is a sequence of
// operations (register through either API, heartbeat, seed heartbeat,
// deregister, warnServerError, clock advances with expiry) applied to the
// real registry on a fake clock and to a plain map of what should be there.
// After every operation they must agree: which instances Discover shows (live,
// not ejected) with their overloaded flag, what findServer and
// warnServerError may return, and the result of each call where the model
// knows it (a lease past its deadline may or may not have been reaped yet).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/registry.h"

namespace registryd {
namespace {

constexpr int kServices = 3;
constexpr int kInstances = 6;
constexpr int kSeedIds = 6;
constexpr Duration kTtls[] = {std::chrono::milliseconds(500), std::chrono::seconds(1), std::chrono::seconds(3),
                              std::chrono::seconds(60)};

void Require(bool condition) {
  if (!condition) std::abort();
}

std::string ServiceName(int index) { return "svc-" + std::to_string(index); }

struct Entry {
  LeaseId lease;
  TimePoint deadline;
  Duration ttl;
  bool overloaded;
  bool ejected;
  std::optional<int32_t> seed_id;
};

struct Model {
  // Entries by (service, instance id).
  std::map<std::pair<std::string, std::string>, Entry> entries;
  std::vector<LeaseId> leases;  // every lease ever granted, for operations to name

  bool Live(const Entry& entry, TimePoint now) const { return entry.deadline > now; }

  // The key holding `lease`, if any entry does.
  const std::pair<std::string, std::string>* KeyOf(LeaseId lease) const {
    for (const auto& [key, entry] : entries) {
      if (entry.lease == lease) return &key;
    }
    return nullptr;
  }
  const std::pair<std::string, std::string>* KeyOfSeed(int32_t seed_id) const {
    for (const auto& [key, entry] : entries) {
      if (entry.seed_id == seed_id) return &key;
    }
    return nullptr;
  }
};

class Run {
 public:
  Run() : registry_(Options(), clock_) {}

  static RegistryOptions Options() {
    RegistryOptions options;
    options.shard_count = 4;  // seed moves cross shards
    options.tick = std::chrono::milliseconds(10);
    options.wheel_slots = 64;
    options.min_ttl = std::chrono::milliseconds(500);
    options.default_ttl = std::chrono::seconds(2);
    options.change_log_capacity = 16;
    options.first_revision = 1;
    return options;
  }

  void Register(int service, int instance, Duration ttl, bool overloaded) {
    RegisterSpec spec;
    spec.service = ServiceName(service);
    spec.instance_id = "i-" + std::to_string(instance);
    spec.host = "10.0.0.1";
    spec.port = static_cast<uint16_t>(1000 + instance);
    spec.ttl = registry_.GrantTtl(ttl);
    spec.overloaded = overloaded;
    const absl::StatusOr<RegisterResult> result = registry_.Register(spec);
    Require(result.ok());
    Upsert(spec, result->lease);
  }

  void SeedRegister(int seed_id, int service, bool overloaded) {
    RegisterSpec spec;
    spec.service = ServiceName(service);
    spec.instance_id = std::to_string(seed_id);
    spec.host = "10.0.1.1";
    spec.port = static_cast<uint16_t>(2000 + seed_id);
    spec.ttl = registry_.options().default_ttl;
    spec.overloaded = overloaded;
    spec.seed_id = seed_id;
    const absl::StatusOr<RegisterResult> result = registry_.SeedRegister(spec);
    Require(result.ok());
    // One id is one server: registered under another service, it moves.
    if (const auto* key = model_.KeyOfSeed(seed_id); key != nullptr && key->first != spec.service) {
      model_.entries.erase(*key);
    }
    Upsert(spec, result->lease);
  }

  void Heartbeat(LeaseId lease, bool overloaded) {
    const absl::StatusOr<Duration> ttl = registry_.Heartbeat(lease, overloaded);
    Renewed(lease, overloaded, ttl.ok());
  }

  void SeedHeartbeat(int32_t seed_id, bool overloaded) {
    const auto* key = model_.KeyOfSeed(seed_id);
    const absl::StatusOr<Duration> ttl = registry_.SeedHeartbeat(seed_id, overloaded);
    if (key == nullptr) {
      Require(!ttl.ok());
      return;
    }
    Renewed(model_.entries.at(*key).lease, overloaded, ttl.ok());
  }

  void Deregister(LeaseId lease) {
    const bool removed = registry_.Deregister(lease).ok();
    const auto* key = model_.KeyOf(lease);
    if (key == nullptr) {
      Require(!removed);
      return;
    }
    if (model_.Live(model_.entries.at(*key), clock_.Now())) Require(removed);
    model_.entries.erase(*key);  // expired or not, it is gone now
  }

  void Warn(int32_t seed_id) {
    const TimePoint now = clock_.Now();
    const auto* key = model_.KeyOfSeed(seed_id);
    const WarnResult result = *registry_.WarnServerError(seed_id);
    const bool live = key != nullptr && model_.Live(model_.entries.at(*key), now);
    if (key != nullptr && !live) return;  // past its deadline: either answer
    Require(result.known == live);
    if (!live) {
      Require(!result.replacement);
      return;
    }
    model_.entries.at(*key).ejected = true;
    CheckPick(key->first, result.replacement, seed_id);
  }

  void Find(int service) { CheckPick(ServiceName(service), registry_.FindServer(ServiceName(service)), std::nullopt); }

  void Advance(Duration by) {
    clock_.Advance(by);
    std::vector<Removal> expired;
    for (uint32_t shard = 0; shard < registry_.shard_count(); ++shard) {
      for (int calls = 0; registry_.Advance(shard, expired); ++calls) Require(calls < 100'000);
    }
    // Nothing expires early.
    for (const Removal& removal : expired) {
      const auto* key = model_.KeyOf(removal.lease);
      Require(key == nullptr || !model_.Live(model_.entries.at(*key), clock_.Now()));
    }
  }

  // What Discover shows, for every service, is what the model holds.
  void Compare() {
    const TimePoint now = clock_.Now();
    for (int service = 0; service < kServices; ++service) {
      std::map<std::string, bool> shown;
      registry_.Discover(ServiceName(service), false, [&](const InstanceRecord& record) {
        shown[std::string(record.instance_id())] = record.overloaded;
      });
      std::map<std::string, bool> expected;
      for (const auto& [key, entry] : model_.entries) {
        if (key.first == ServiceName(service) && model_.Live(entry, now) && !entry.ejected) {
          expected[key.second] = entry.overloaded;
        }
      }
      Require(shown == expected);
    }
  }

  LeaseId LeaseAt(uint8_t index) const {
    return model_.leases.empty() ? LeaseId{12345} : model_.leases[index % model_.leases.size()];
  }

 private:
  void Upsert(const RegisterSpec& spec, LeaseId lease) {
    const TimePoint now = clock_.Now();
    const auto key = std::make_pair(spec.service, spec.instance_id);
    const auto existing = model_.entries.find(key);
    // A live instance is updated in place and keeps its lease; an expired one is replaced.
    if (existing != model_.entries.end() && model_.Live(existing->second, now)) {
      Require(existing->second.lease == lease);
    } else {
      model_.leases.push_back(lease);
    }
    model_.entries[key] = Entry{lease, now + spec.ttl, spec.ttl, spec.overloaded, false, spec.seed_id};
  }

  void Renewed(LeaseId lease, bool overloaded, bool ok) {
    const auto* key = model_.KeyOf(lease);
    if (key == nullptr) {
      Require(!ok);
      return;
    }
    Entry& entry = model_.entries.at(*key);
    const TimePoint now = clock_.Now();
    Require(ok == model_.Live(entry, now));
    if (!ok) {
      model_.entries.erase(*key);  // the registry removes it on the way
      return;
    }
    entry.deadline = now + entry.ttl;
    entry.overloaded = overloaded;
    entry.ejected = false;
  }

  // A pick is a live, not ejected seed server of the service, not `excluded`;
  // not overloaded when one that is not exists; none only when there is none.
  void CheckPick(const std::string& service, const std::optional<Endpoint>& pick, std::optional<int32_t> excluded) {
    const TimePoint now = clock_.Now();
    bool any = false;
    bool any_free = false;
    for (const auto& [key, entry] : model_.entries) {
      if (key.first != service || !model_.Live(entry, now) || entry.ejected || !entry.seed_id ||
          entry.seed_id == excluded) {
        continue;
      }
      any = true;
      any_free |= !entry.overloaded;
    }
    Require(pick.has_value() == any);
    if (!pick) return;
    const auto* key = model_.KeyOfSeed(pick->server_id);
    Require(key != nullptr && key->first == service && pick->server_id != excluded);
    const Entry& entry = model_.entries.at(*key);
    Require(model_.Live(entry, now) && !entry.ejected);
    if (any_free) Require(!entry.overloaded);
  }

  ManualClock clock_;
  Registry registry_;
  Model model_;
};

}  // namespace
}  // namespace registryd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace registryd;
  Run run;
  for (size_t at = 0; at + 2 < size; at += 3) {
    const uint8_t op = data[at];
    const uint8_t a = data[at + 1];
    const uint8_t b = data[at + 2];
    const bool flag = (b & 0x80) != 0;
    switch (op % 8) {
      case 0: run.Register(a % kServices, b % kInstances, kTtls[(a >> 4) % 4], flag); break;
      case 1: run.SeedRegister(a % kSeedIds, b % kServices, flag); break;
      case 2: run.Heartbeat(run.LeaseAt(a), flag); break;
      case 3: run.SeedHeartbeat(a % kSeedIds, flag); break;
      case 4: run.Deregister(run.LeaseAt(a)); break;
      case 5: run.Warn(a % kSeedIds); break;
      case 6: run.Find(a % kServices); break;
      case 7: run.Advance(std::chrono::milliseconds(a * 16 + b % 16)); break;
    }
    run.Compare();
  }
  return 0;
}
