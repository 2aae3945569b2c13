// Status and StatusOr: the core's error currency. Every core function that
// can fail returns one; the ABI layer turns it into a kh_status unchanged.
#pragma once

#include <keyhold/keyhold.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

namespace keyhold {

using ByteView = std::span<const uint8_t>;
using MutableBytes = std::span<uint8_t>;

class [[nodiscard]] Status {
 public:
  constexpr Status() : code_(KH_OK) {}
  constexpr Status(kh_status code) : code_(code) {}  // NOLINT(google-explicit-constructor)
  constexpr bool ok() const { return code_ == KH_OK; }
  constexpr kh_status code() const { return code_; }
  friend constexpr bool operator==(Status a, Status b) { return a.code_ == b.code_; }

 private:
  kh_status code_;
};

inline constexpr Status OkStatus() { return Status(); }

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status s) : status_(s) {}               // NOLINT(google-explicit-constructor)
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return status_.ok(); }
  Status status() const { return status_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

#define KH_RETURN_IF_ERROR(expr)       \
  do {                                 \
    ::keyhold::Status kh_st_ = (expr); \
    if (!kh_st_.ok()) return kh_st_;   \
  } while (0)

const char* StatusName(kh_status s);

}  // namespace keyhold
