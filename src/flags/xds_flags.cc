#include "flags/xds_flags.h"

namespace registryd::flags {

void XdsFlags::AddTo(CLI::App& app) {
  CLI::App& group = *app.add_option_group("xDS", "gRPC clients resolve xds:///SERVICE through registryd");
  group.add_option("--xds", xds,
                   "Serve xDS (envoy.service.discovery.v3 ADS): gRPC clients with a bootstrap file naming registryd "
                   "resolve xds:///SERVICE and balance over its live instances")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
}

}  // namespace registryd::flags
