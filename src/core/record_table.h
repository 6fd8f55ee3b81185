// A shard's records, each at a 32-bit index that stays put while the record
// lives: the shard's indexes (by lease, by instance id, service members, the
// timer wheel) hold 4-byte indexes instead of 8-byte pointers, and a record
// that moves to a new allocation (new host or metadata) keeps its index.
//
// Not thread-safe: the owning shard serialises access.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/instance.h"

namespace registryd {

enum class RecordIndex : uint32_t {};

class RecordTable {
 public:
  RecordTable() = default;
  RecordTable(const RecordTable&) = delete;
  RecordTable& operator=(const RecordTable&) = delete;

  // Stores `record` at a free index (the most recently freed first).
  RecordIndex Add(InstanceRecordPtr record);
  // The record at `index`, null when the index is free.
  InstanceRecord* Find(RecordIndex index) const;
  // The record at a live `index`.
  InstanceRecord& operator[](RecordIndex index) const { return *Find(index); }
  // Puts `record` at a live `index`, freeing the record that was there.
  void Replace(RecordIndex index, InstanceRecordPtr record);
  // Frees the record at a live `index`; the index can be handed out again.
  void Remove(RecordIndex index);

  size_t size() const { return used_ - free_.size(); }
  // Every index handed out so far is below this.
  uint32_t index_limit() const { return used_; }

 private:
  // Fixed-size chunks: growing never moves a slot, and a large table does not
  // keep a doubling vector's slack.
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSlots = 1u << kChunkBits;

  InstanceRecordPtr& Slot(RecordIndex index) const;

  std::vector<std::unique_ptr<InstanceRecordPtr[]>> chunks_;
  uint32_t used_ = 0;                // indexes below have been handed out
  std::vector<RecordIndex> free_;    // handed out and freed since
};

}  // namespace registryd
