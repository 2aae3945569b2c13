// Structured logs of keyholdd: one JSON object per line on stderr (journald
// stores stderr of a unit). Fields are names and numbers chosen by the
// daemon: never a key, a payload or a value a client sent.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace keyhold::daemon {

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), str(v), is_num(false) {}
  LogField(std::string_view k, const char* v) : key(k), str(v), is_num(false) {}
  LogField(std::string_view k, const std::string& v) : key(k), str(v), is_num(false) {}
  template <typename T, typename = std::enable_if_t<std::is_integral_v<T>>>
  LogField(std::string_view k, T v) : key(k), num(static_cast<int64_t>(v)), is_num(true) {}
  std::string_view key;
  std::string_view str;
  int64_t num = 0;
  bool is_num;
};

enum class Level { kDebug, kInfo, kWarn, kError };

void Log(Level level, std::string_view msg, std::initializer_list<LogField> fields = {});
// SetLogLevel: messages below level are dropped.
void SetLogLevel(Level level);
// JsonEscape appends s to out as the inside of a JSON string.
void JsonEscape(std::string_view s, std::string* out);
// ErrnoMessage: the text of an errno value, as std::strerror gives it but
// safe to call from any thread (strerror_r).
std::string ErrnoMessage(int err);

}  // namespace keyhold::daemon
