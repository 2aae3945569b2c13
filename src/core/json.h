// JsonString: a string as a JSON string literal (quotes and escapes), for
// the engine's JSON outputs (configuration, metrics).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace keyhold::core {

inline std::string JsonString(std::string_view v) {
  std::string s = "\"";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      s += '\\';
      s += c;
    } else if (u < 0x20) {
      char buf[8];
      (void)std::snprintf(buf, sizeof buf, "\\u%04x", u);
      s += buf;
    } else {
      s += c;
    }
  }
  return s + "\"";
}

}  // namespace keyhold::core
