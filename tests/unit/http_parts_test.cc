#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/bounded_pool.h"
#include "core/json_text.h"
#include "http/prometheus_labels.h"

namespace registryd::http {
namespace {

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString(std::string("nl\n tab\t nul", 12) + std::string(1, '\0') + "\x7f"),
            "\"nl\\u000a tab\\u0009 nul\\u0000\\u007f\"");
}

TEST(JsonStringTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonString("z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80"), "\"z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonString("\xff\xfe"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonString("\xc3"), "\"\\ufffd\"");              // truncated
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");    // overlong
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
}

TEST(JsonErrorTest, NamesTheStatusAndTheMessage) {
  EXPECT_EQ(JsonError(404, "no such path: /x\"y"), "{\"error\":{\"code\":404,\"message\":\"no such path: /x\\\"y\"}}");
}

TEST(SanitizeLabelNameTest, TurnsWhatPrometheusRefusesIntoUnderscores) {
  EXPECT_EQ(SanitizeLabelName("zone"), "zone");
  EXPECT_EQ(SanitizeLabelName("app.kubernetes.io/name"), "app_kubernetes_io_name");
  EXPECT_EQ(SanitizeLabelName("Version-2"), "Version_2");
  EXPECT_EQ(SanitizeLabelName("z\xc3\xbcrich"), "z__rich");  // each byte of a non-ASCII letter
  EXPECT_EQ(SanitizeLabelName("9lives"), "9lives");  // after the caller's prefix, a digit may lead
}

TEST(BoundedPoolTest, RunsEveryJobOnItsThreadsAndDrainsOnShutdown) {
  std::atomic<int> ran{0};
  std::mutex mu;
  std::vector<std::thread::id> threads;
  {
    BoundedPool pool(3, 2);
    for (int i = 0; i < 100; ++i) {
      pool.enqueue([&] {
        ++ran;
        std::lock_guard<std::mutex> lock(mu);
        threads.push_back(std::this_thread::get_id());
      });
    }
    pool.shutdown();  // serves what waits first
    EXPECT_EQ(ran.load(), 100);
  }
  for (const std::thread::id id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(BoundedPoolTest, JobsBeyondTheThreadsAndTheQueueAllRunOnceTheThreadsAreFree) {
  BoundedPool pool(1, 1);
  std::mutex mu;
  std::condition_variable changed;
  bool release = false;
  int finished = 0;
  const auto job = [&] {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait(lock, [&] { return release; });
    ++finished;
    changed.notify_all();
  };
  pool.enqueue(job);  // taken by the one thread, which waits
  pool.enqueue(job);  // waits in the queue (full now)
  std::atomic<bool> third_enqueued{false};
  std::thread enqueuer([&] {
    pool.enqueue(job);
    third_enqueued = true;
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    release = true;
    changed.notify_all();
    changed.wait(lock, [&] { return finished == 3; });
  }
  enqueuer.join();
  EXPECT_TRUE(third_enqueued);
  EXPECT_EQ(finished, 3);
}

}  // namespace
}  // namespace registryd::http
