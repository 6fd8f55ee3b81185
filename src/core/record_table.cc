#include "core/record_table.h"

#include <cstdlib>

namespace registryd {

InstanceRecordPtr& RecordTable::Slot(RecordIndex index) const {
  const auto value = static_cast<uint32_t>(index);
  return chunks_[value >> kChunkBits][value & (kChunkSlots - 1)];
}

RecordIndex RecordTable::Add(InstanceRecordPtr record) {
  RecordIndex index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (used_ == UINT32_MAX) std::abort();  // the registry's capacity limit is far lower
    if (used_ % kChunkSlots == 0) chunks_.push_back(std::make_unique<InstanceRecordPtr[]>(kChunkSlots));
    index = RecordIndex{used_++};
  }
  Slot(index) = std::move(record);
  return index;
}

InstanceRecord* RecordTable::Find(RecordIndex index) const {
  return static_cast<uint32_t>(index) < used_ ? Slot(index).get() : nullptr;
}

void RecordTable::Replace(RecordIndex index, InstanceRecordPtr record) { Slot(index) = std::move(record); }

void RecordTable::Remove(RecordIndex index) {
  Slot(index).reset();
  free_.push_back(index);
}

}  // namespace registryd
