#include "daemon/systemd_notify.h"

#include <time.h>

#include <atomic>
#include <cstring>
#include <string>

#include <fmt/core.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"

namespace registryd::daemon {
namespace {

void Notify(const std::string& state) {
  // 0: not under systemd. An error is told once: the state is lost either
  // way, and a watchdog's pings would repeat it every period.
  if (const int sent = sd_notify(0, state.c_str()); sent < 0) {
    static std::atomic<bool> told{false};
    if (!told.exchange(true)) {
      log::Warn("cannot tell systemd \"{}\" through $NOTIFY_SOCKET: {}", state, std::strerror(-sent));
    }
  }
}

uint64_t MonotonicMicros() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1'000;
}

}  // namespace

void NotifyReady(std::string_view status) { Notify(fmt::format("READY=1\nSTATUS={}", status)); }

// MONOTONIC_USEC: what a Type=notify-reload unit (systemd 253 on) requires
// beside RELOADING=1.
void NotifyReloading() { Notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", MonotonicMicros())); }

void NotifyStopping() { Notify("STOPPING=1"); }

void NotifyWatchdog() { Notify("WATCHDOG=1"); }

std::optional<Duration> WatchdogInterval() {
  uint64_t micros = 0;
  if (sd_watchdog_enabled(0, &micros) <= 0 || micros == 0) return std::nullopt;
  return std::chrono::microseconds(micros);
}

}  // namespace registryd::daemon
