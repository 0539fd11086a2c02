#include "log_store.hpp"

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace skein::coordinator {
namespace {

v1::LogChunk chunk(uint64_t job, v1::LogStream s, std::string data) {
  v1::LogChunk c;
  c.set_job_id(job);
  c.set_stream(s);
  c.set_data(std::move(data));
  c.set_unix_ms(123);
  return c;
}

TEST(LogStore, InterleavedStreamsReadBackInOrderAndResumeAtOffsets) {
  skein::testing::TempDir dir;
  auto store = LogStore::open(dir.path(), 1 << 20);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->append(chunk(1, v1::LOG_STREAM_STDOUT, "out-1\n")).ok());
  ASSERT_TRUE((*store)->append(chunk(1, v1::LOG_STREAM_STDERR, "err-1\n")).ok());
  ASSERT_TRUE((*store)->append(chunk(2, v1::LOG_STREAM_STDOUT, "other job\n")).ok());
  ASSERT_TRUE((*store)->append(chunk(1, v1::LOG_STREAM_STDOUT, "out-2\n")).ok());

  auto first = (*store)->read(1, 0, 1);  // tiny budget: one record per read
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->chunks.size(), 1u);
  EXPECT_EQ(first->chunks[0].data(), "out-1\n");
  EXPECT_EQ(first->chunks[0].unix_ms(), 123);
  auto rest = (*store)->read(1, first->next_offset, 1 << 20);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->chunks.size(), 2u);
  EXPECT_EQ(rest->chunks[0].stream(), v1::LOG_STREAM_STDERR);
  EXPECT_EQ(rest->chunks[1].data(), "out-2\n");
  auto none = (*store)->read(1, rest->next_offset, 1 << 20);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->chunks.empty());
  EXPECT_TRUE((*store)->read(99, 0, 100)->chunks.empty()) << "no log yet is empty, not an error";
  EXPECT_EQ((*store)->append(chunk(0, v1::LOG_STREAM_STDOUT, "x")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LogStore, LabelledRecordsKeepNodeSourceAndPidAndMixWithUnlabelledOnes) {
  skein::testing::TempDir dir;
  auto store = LogStore::open(dir.path(), 1 << 20);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->append(chunk(1, v1::LOG_STREAM_STDOUT, "old\n")).ok());
  v1::LogChunk task = chunk(1, v1::LOG_STREAM_STDERR, "from a task\n");
  task.set_node_id("node-2");
  task.set_source(v1::LOG_SOURCE_TASK_WORKER);
  task.set_pid(4242);
  ASSERT_TRUE((*store)->append(task).ok());
  v1::LogChunk empty = chunk(1, v1::LOG_STREAM_STDOUT, "");
  empty.set_node_id("node-1");
  empty.set_source(v1::LOG_SOURCE_DRIVER);
  ASSERT_TRUE((*store)->append(empty).ok());

  auto all = (*store)->read(1, 0, 1 << 20);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->chunks.size(), 3u);
  EXPECT_EQ(all->chunks[0].data(), "old\n");
  EXPECT_EQ(all->chunks[0].node_id(), "");
  EXPECT_EQ(all->chunks[0].source(), v1::LOG_SOURCE_UNSPECIFIED);
  EXPECT_EQ(all->chunks[1].stream(), v1::LOG_STREAM_STDERR);
  EXPECT_EQ(all->chunks[1].data(), "from a task\n");
  EXPECT_EQ(all->chunks[1].node_id(), "node-2");
  EXPECT_EQ(all->chunks[1].source(), v1::LOG_SOURCE_TASK_WORKER);
  EXPECT_EQ(all->chunks[1].pid(), 4242);
  EXPECT_EQ(all->chunks[1].unix_ms(), 123);
  EXPECT_EQ(all->chunks[2].data(), "");
  EXPECT_EQ(all->chunks[2].node_id(), "node-1");
  EXPECT_EQ(all->chunks[2].source(), v1::LOG_SOURCE_DRIVER);
  // Offsets stay record boundaries with labels in between.
  auto second = (*store)->read(1, (*store)->read(1, 0, 1)->next_offset, 1);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->chunks.size(), 1u);
  EXPECT_EQ(second->chunks[0].pid(), 4242);
}

TEST(LogStore, AFloodIsCappedWithOneTruncationNotice) {
  skein::testing::TempDir dir;
  constexpr uint64_t kCap = 64 << 10;
  auto store = LogStore::open(dir.path(), kCap);
  ASSERT_TRUE(store.ok());
  std::string line(1000, 'x');
  for (int i = 0; i < 1000; ++i) {  // ~1 MB offered, 64 KiB kept
    ASSERT_TRUE((*store)->append(chunk(5, v1::LOG_STREAM_STDOUT, line)).ok());
  }
  EXPECT_LE((*store)->size_of(5), kCap + 200);
  EXPECT_GT((*store)->dropped_bytes(5), 900000u);
  auto all = (*store)->read(5, 0, 1 << 30);
  ASSERT_TRUE(all.ok());
  ASSERT_FALSE(all->chunks.empty());
  const auto& last = all->chunks.back();
  EXPECT_EQ(last.stream(), v1::LOG_STREAM_SYSTEM);
  EXPECT_NE(last.data().find("log truncated"), std::string::npos);
  int notices = 0;
  for (const auto& c : all->chunks) {
    notices += c.stream() == v1::LOG_STREAM_SYSTEM ? 1 : 0;
  }
  EXPECT_EQ(notices, 1);
  // The cap survives a reopen (it is derived from the file size).
  auto reopened = LogStore::open(dir.path(), kCap);
  ASSERT_TRUE((*reopened)->append(chunk(5, v1::LOG_STREAM_STDOUT, line)).ok());
  EXPECT_EQ((*reopened)->size_of(5), (*store)->size_of(5));
}

}  // namespace
}  // namespace skein::coordinator
