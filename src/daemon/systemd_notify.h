// registryd under systemd (a Type=notify unit): it says when it is ready,
// reloading and stopping, and feeds the unit's watchdog (libsystemd's
// sd_notify, a datagram to $NOTIFY_SOCKET). Outside systemd, with no
// $NOTIFY_SOCKET, every call does nothing.
#pragma once

#include <optional>
#include <string_view>

#include "core/clock.h"

namespace registryd::daemon {

// The ports listen: systemd starts the units ordered after this one.
void NotifyReady(std::string_view status);
// Around a SIGHUP reload; NotifyReady ends it.
void NotifyReloading();
void NotifyStopping();
void NotifyWatchdog();

// WatchdogSec= of the unit when systemd expects this process's pings
// ($WATCHDOG_USEC, for this $WATCHDOG_PID), else nothing.
std::optional<Duration> WatchdogInterval();

}  // namespace registryd::daemon
