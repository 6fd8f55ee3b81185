#include <ctime>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/process_stats.h"
#include "metrics/text_exposition.h"
#include "metrics/thread_metrics.h"

namespace registryd::metrics {
namespace {

TEST(TextExpositionTest, WritesHelpTypeAndSamplesOfAFamily) {
  TextExposition text;
  text.Family("registryd_things_total", MetricType::kCounter, "Things seen.");
  text.Sample({{"kind", "a"}}, uint64_t{3});
  text.Sample({{"kind", "b"}, {"code", "OK"}}, uint64_t{0});
  text.Family("registryd_level", MetricType::kGauge, "A level.");
  text.Sample({}, 0.5);
  EXPECT_EQ(text.Take(),
            "# HELP registryd_things_total Things seen.\n"
            "# TYPE registryd_things_total counter\n"
            "registryd_things_total{kind=\"a\"} 3\n"
            "registryd_things_total{kind=\"b\",code=\"OK\"} 0\n"
            "# HELP registryd_level A level.\n"
            "# TYPE registryd_level gauge\n"
            "registryd_level 0.5\n");
  EXPECT_EQ(text.Take(), "");
}

TEST(TextExpositionTest, EscapesLabelValuesAndHelp) {
  TextExposition text;
  text.Family("m", MetricType::kGauge, "back\\slash\nnew line \"quoted\"");
  text.Sample({{"v", "a\"b\\c\nd"}}, uint64_t{1});
  EXPECT_EQ(text.Take(),
            "# HELP m back\\\\slash\\nnew line \"quoted\"\n"
            "# TYPE m gauge\n"
            "m{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(TextExpositionTest, WritesSpecialFloats) {
  TextExposition text;
  text.Family("m", MetricType::kGauge, "h");
  text.Sample({}, std::numeric_limits<double>::infinity());
  text.Sample({}, -std::numeric_limits<double>::infinity());
  text.Sample({}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(text.Take(), "# HELP m h\n# TYPE m gauge\nm +Inf\nm -Inf\nm NaN\n");
}

TEST(TextExpositionTest, RefusesInvalidNames) {
  TextExposition text;
  EXPECT_THROW(text.Family("9lives", MetricType::kGauge, "h"), std::invalid_argument);
  EXPECT_THROW(text.Family("a-b", MetricType::kGauge, "h"), std::invalid_argument);
  text.Family("ok:name_1", MetricType::kGauge, "h");
  EXPECT_THROW(text.Sample({{"le:x", "1"}}, uint64_t{1}), std::invalid_argument);
  EXPECT_TRUE(TextExposition::IsValidLabelName("_x9"));
  EXPECT_FALSE(TextExposition::IsValidLabelName("9x"));
  EXPECT_FALSE(TextExposition::IsValidLabelName(""));
}

TEST(TextExpositionTest, HistogramBucketsAreCumulativeInBaseUnits) {
  static constexpr std::array<uint64_t, 3> kBounds = {100'000, 1'000'000, 10'000'000};  // ns
  LocalHistogram<kBounds.size()> histogram;
  histogram.Observe(kBounds, 50'000);
  histogram.Observe(kBounds, 100'000);  // on a bound: in that bucket (le)
  histogram.Observe(kBounds, 2'000'000);
  histogram.Observe(kBounds, 20'000'000);  // above every bound
  HistogramTotals totals;
  histogram.AddTo(totals);
  TextExposition text;
  text.Family("d_seconds", MetricType::kHistogram, "h");
  text.Histogram({{"method", "M"}}, totals, Buckets{kBounds, 1e9});
  EXPECT_EQ(text.Take(),
            "# HELP d_seconds h\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{method=\"M\",le=\"0.0001\"} 2\n"
            "d_seconds_bucket{method=\"M\",le=\"0.001\"} 2\n"
            "d_seconds_bucket{method=\"M\",le=\"0.01\"} 3\n"
            "d_seconds_bucket{method=\"M\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{method=\"M\"} 0.02215\n"
            "d_seconds_count{method=\"M\"} 4\n");
}

TEST(TextExpositionTest, EmptyHistogramHasEveryBucketAtZero) {
  static constexpr std::array<uint64_t, 2> kBounds = {1, 2};
  TextExposition text;
  text.Family("w", MetricType::kHistogram, "h");
  text.Histogram({}, HistogramTotals{}, Buckets{kBounds, 1});
  EXPECT_EQ(text.Take(),
            "# HELP w h\n# TYPE w histogram\n"
            "w_bucket{le=\"1\"} 0\nw_bucket{le=\"2\"} 0\nw_bucket{le=\"+Inf\"} 0\nw_sum 0\nw_count 0\n");
}

TEST(ThreadMetricsTest, SumsEveryThreadAndKeepsTheCountsOfEndedThreads) {
  constexpr size_t kRegister = MethodIndex("registry.v1.Registry/Register");
  static_assert(kRegister < kMethods.size());
  static_assert(MethodIndex("no.such/Method") == kMethods.size());
  const MetricTotals before = Collect();
  Local().Call(kRegister, 0);
  Local().Heartbeats(HeartbeatApi::kSeed);
  std::thread other([] {
    for (int i = 0; i < 1000; ++i) Local().Call(kRegister, 0);
    Local().Call(kRegister, 5);  // NOT_FOUND
    Local().handling[kRegister].Observe(kDurationBoundsNs, 30'000);
  });
  other.join();  // its metrics retire with it
  const MetricTotals after = Collect();
  EXPECT_EQ(after.calls[kRegister][0] - before.calls[kRegister][0], 1001u);
  EXPECT_EQ(after.calls[kRegister][5] - before.calls[kRegister][5], 1u);
  EXPECT_EQ(after.heartbeats[2] - before.heartbeats[2], 1u);
  EXPECT_EQ(after.handling[kRegister].count - before.handling[kRegister].count, 1u);
  EXPECT_EQ(after.handling[kRegister].sum - before.handling[kRegister].sum, 30'000u);
  ASSERT_EQ(after.handling[kRegister].counts.size(), kDurationBoundsNs.size() + 1);
  // 30 µs falls in the second bucket (25 µs < it <= 50 µs).
  const uint64_t before_second =
      before.handling[kRegister].counts.empty() ? 0 : before.handling[kRegister].counts[1];
  EXPECT_EQ(after.handling[kRegister].counts[1] - before_second, 1u);
}

TEST(ThreadMetricsTest, CountsWhileOtherThreadsRecordConcurrently) {
  constexpr size_t kHeartbeat = MethodIndex("registry.v1.Registry/Heartbeat");
  const uint64_t before = Collect().calls[kHeartbeat][0];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 10'000; ++i) Local().Call(kHeartbeat, 0);
    });
  }
  uint64_t last = before;
  for (int read = 0; read < 100; ++read) {  // scrapes meanwhile never go back
    const uint64_t now = Collect().calls[kHeartbeat][0];
    EXPECT_GE(now, last);
    last = now;
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Collect().calls[kHeartbeat][0] - before, 40'000u);
}

TEST(ProcessStatsTest, ParsesProcStatWithSpacesAndParenthesesInTheName) {
  // Fields from 3: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15) cutime cstime priority nice threads itrealvalue starttime(22) vsize(23) rss(24) ...
  const std::string stat =
      "1234 (reg (d) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 104857600 2560 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const std::optional<ProcessStats> stats = ParseProcStat(stat, 100, 4096, 1'700'000'000);
  ASSERT_TRUE(stats);
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(stats->start_time_seconds, 1'700'000'010.0);
  EXPECT_EQ(stats->virtual_bytes, 104'857'600u);
  EXPECT_EQ(stats->resident_bytes, 2560u * 4096u);
}

TEST(ProcessStatsTest, RefusesTruncatedOrGarbledStat) {
  EXPECT_FALSE(ParseProcStat("1234 (x) S 1 2 3", 100, 4096, 0));
  EXPECT_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0));
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 50 0 0 20 0 3 0 1000 1 1", 100, 4096, 0));
}

TEST(ProcessStatsTest, ReadsThisProcess) {
  const std::optional<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->resident_bytes, 0u);
  EXPECT_GT(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->open_fds, 3u);  // stdin, stdout, stderr at least
  EXPECT_GE(stats->max_fds, stats->open_fds);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 24 * 3600);  // a test started today
}

}  // namespace
}  // namespace registryd::metrics
