#include "abi/handle_table.h"

namespace keyhold::abi {

HandleTable& HandleTable::Global() {
  // Leaked on purpose: handles may be closed during static destruction.
  static HandleTable* t = new HandleTable();
  return *t;
}

HandleTable::Slot* HandleTable::SlotAt(uint32_t index) const {
  if (index >= used_.load(std::memory_order_acquire)) return nullptr;
  Slot* chunk = chunks_[index / kChunkSlots].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index % kChunkSlots];
}

Status HandleTable::Insert(std::shared_ptr<Object> obj, EngineObject* owner) {
  std::lock_guard<std::mutex> lock(mu_);
  if (owner != nullptr && owner->closed) return KH_E_ENGINE_CLOSED;
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = used_.load(std::memory_order_relaxed);
    if (index >= kChunkSlots * kMaxChunks) return KH_E_TOO_LARGE;
    if (index % kChunkSlots == 0) {
      chunks_[index / kChunkSlots].store(new Slot[kChunkSlots], std::memory_order_release);
    }
    used_.store(index + 1, std::memory_order_release);
  }
  Slot* slot = &chunks_[index / kChunkSlots].load(std::memory_order_relaxed)[index % kChunkSlots];
  if (++slot->generation == 0) slot->generation = 1;
  obj->handle = (uint64_t{slot->generation} << 32) | (uint64_t{index} + 1);
  if (owner != nullptr) {
    obj->owner = owner->handle;
    owner->children.fetch_add(1, std::memory_order_relaxed);
  }
  Slot::SpinGuard guard(slot->lock);
  slot->obj = std::move(obj);
  return OkStatus();
}

std::shared_ptr<Object> HandleTable::Lookup(uint64_t handle) const {
  const uint32_t low = static_cast<uint32_t>(handle);
  if (low == 0) return nullptr;
  Slot* slot = SlotAt(low - 1);
  if (slot == nullptr) return nullptr;
  Slot::SpinGuard guard(slot->lock);
  if (!slot->obj || slot->obj->handle != handle) return nullptr;
  return slot->obj;
}

std::shared_ptr<Object> HandleTable::RemoveLocked(uint64_t handle) {
  const uint32_t low = static_cast<uint32_t>(handle);
  if (low == 0) return nullptr;
  Slot* slot = SlotAt(low - 1);
  if (slot == nullptr) return nullptr;
  std::shared_ptr<Object> obj;
  {
    Slot::SpinGuard guard(slot->lock);
    if (!slot->obj || slot->obj->handle != handle) return nullptr;
    obj = std::move(slot->obj);
    slot->obj.reset();
  }
  free_.push_back(low - 1);
  if (obj->owner != 0) {
    std::shared_ptr<Object> owner = Lookup(obj->owner);
    if (owner && owner->kind == Kind::kEngine) {
      static_cast<EngineObject*>(owner.get())->children.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  return obj;
}

std::shared_ptr<Object> HandleTable::Remove(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mu_);
  return RemoveLocked(handle);
}

std::vector<std::shared_ptr<Object>> HandleTable::RemoveEngine(uint64_t engine_handle) {
  std::vector<std::shared_ptr<Object>> removed;
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Object> engine = Lookup(engine_handle);
  if (!engine || engine->kind != Kind::kEngine) return removed;
  static_cast<EngineObject*>(engine.get())->closed = true;
  const uint32_t n = used_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    Slot* slot = SlotAt(i);
    std::shared_ptr<Object> obj;
    {
      Slot::SpinGuard guard(slot->lock);
      obj = slot->obj;
    }
    if (obj && obj->owner == engine_handle) {
      auto r = RemoveLocked(obj->handle);
      if (r) removed.push_back(std::move(r));
    }
  }
  auto r = RemoveLocked(engine_handle);
  if (r) removed.push_back(std::move(r));
  return removed;
}

std::vector<std::shared_ptr<Object>> HandleTable::Owned(uint64_t engine_handle) const {
  std::vector<std::shared_ptr<Object>> out;
  const uint32_t n = used_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; ++i) {
    const Slot* slot = SlotAt(i);
    std::shared_ptr<Object> obj;
    {
      Slot::SpinGuard guard(slot->lock);
      obj = slot->obj;
    }
    if (obj && obj->owner == engine_handle) out.push_back(std::move(obj));
  }
  return out;
}

}  // namespace keyhold::abi
