#include "core/lease_bindings.h"

#include <gtest/gtest.h>

namespace registryd {
namespace {

using Leases = std::vector<LeaseId>;

TEST(LeaseBindingsTest, AStreamReleasesWhatItHolds) {
  LeaseBindings bindings;
  const StreamId stream = bindings.NewStream();
  bindings.Bind(0x1100, stream);
  bindings.Bind(0x2200, stream);
  EXPECT_EQ(bindings.Release(stream, {0x1100, 0x2200, 0x3300}), (Leases{0x1100, 0x2200}));
  EXPECT_EQ(bindings.Release(stream, {0x1100, 0x2200}), Leases{});  // released once
}

// A client that reconnects renews its leases on the new stream before the
// server notices the old one broke: the old stream's end must not remove them.
TEST(LeaseBindingsTest, ALeaseBoundAgainBelongsToTheNewerStream) {
  LeaseBindings bindings;
  const StreamId old_stream = bindings.NewStream();
  const StreamId new_stream = bindings.NewStream();
  EXPECT_NE(old_stream, new_stream);
  bindings.Bind(0xabc00, old_stream);
  bindings.Bind(0xabc00, new_stream);
  EXPECT_EQ(bindings.Release(old_stream, {0xabc00}), Leases{});
  EXPECT_EQ(bindings.Release(new_stream, {0xabc00}), Leases{0xabc00});
}

TEST(LeaseBindingsTest, StreamIdsAreNeverZero) {
  LeaseBindings bindings;
  for (int i = 0; i < 100; ++i) EXPECT_NE(bindings.NewStream(), 0u);
}

}  // namespace
}  // namespace registryd
