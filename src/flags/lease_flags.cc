#include "flags/lease_flags.h"

#include <fmt/core.h>

namespace registryd::flags {
namespace {

// Keeps the expiry wheel from spinning on tiny ticks.
constexpr Duration kMinTick = std::chrono::milliseconds(1);
constexpr Duration kMaxTick = std::chrono::seconds(10);

}  // namespace

void LeaseFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("Leases", "TTLs, expiry, and registryd's own stalls and overload");
  AddDuration(group, "--lease-ttl", lease_ttl, "Lease of a seed registration, and of a native one that asks for no TTL");
  AddDuration(group, "--min-ttl", min_ttl, "Smallest TTL a native Register may be granted");
  AddDuration(group, "--max-ttl", max_ttl, "Largest TTL a native Register may be granted");
  AddDuration(group, "--tick", tick,
              "Expiry granularity: a lease is removed within one tick after its deadline", kMinTick, kMaxTick);
  AddDuration(group, "--stall-threshold", stall_threshold,
              "registryd's own expiry alarms running this late (at least twice --tick) mean it did not run "
              "(a stall: every lease is extended by its length) or fell behind (expiry waits, up to --max-hold)",
              std::chrono::milliseconds(2), std::chrono::minutes(1));
  AddDuration(group, "--max-hold", max_hold,
              "While registryd is behind, expiry waits for it at most this long (default: --lease-ttl)",
              Duration::zero());
  AddDuration(group, "--shed-unread-after", shed_unread_after,
              "A client connection whose requests wait unread this long (registryd behind), or whose answers "
              "wait unsent this long, is reset, so that its clients call again on a fresh one instead of waiting "
              "behind calls their clients gave up on (0: never; at least --stall-threshold)",
              Duration::zero());
  group.add_option("--max-sessions", max_sessions, "Most sessions open at once; more opens get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  group.add_option("--max-instances-per-session", max_instances_per_session,
                   "Most instances one session may hold; more get RESOURCE_EXHAUSTED in their results")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
}

std::optional<std::string> LeaseFlags::Check() const {
  if (min_ttl.value > max_ttl.value) {
    return fmt::format("--min-ttl ({}) must not exceed --max-ttl ({})", min_ttl.text, max_ttl.text);
  }
  // Alarms come once a tick: a threshold closer to the tick would find
  // registryd late when it is not.
  if (stall_threshold.value < 2 * tick.value) {
    return fmt::format("--stall-threshold ({}) must be at least twice --tick ({})", stall_threshold.text, tick.text);
  }
  // The receive queues are sampled twice per --shed-unread-after (on the
  // alarms, which come once a tick), and a wait that long must also mean
  // registryd is behind.
  if (shed_unread_after.value != Duration::zero() && shed_unread_after.value < stall_threshold.value) {
    return fmt::format("--shed-unread-after ({}) must be 0 or at least --stall-threshold ({})", shed_unread_after.text,
                       stall_threshold.text);
  }
  return std::nullopt;
}

void LeaseFlags::ApplyTo(ServerOptions& options) const {
  options.registry.default_ttl = lease_ttl.value;
  options.registry.min_ttl = min_ttl.value;
  options.registry.max_ttl = max_ttl.value;
  options.registry.tick = tick.value;
  options.registry.max_sessions = max_sessions;
  options.registry.max_instances_per_session = max_instances_per_session;
  options.lease_clock.late_bound = stall_threshold.value;
  options.lease_clock.max_hold = MaxHold();
  options.shed_unread_after = shed_unread_after.value == Duration::zero() ? Duration::max() : shed_unread_after.value;
}

}  // namespace registryd::flags
