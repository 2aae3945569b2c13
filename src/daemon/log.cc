#include "daemon/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace keyhold::daemon {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// strerror_r comes in two forms: GNU's returns the message (glibc with
// _GNU_SOURCE, which g++ and clang++ define), XSI's returns 0 and fills buf.
[[maybe_unused]] const char* StrerrorResult(const char* msg, const char* /*buf*/) { return msg; }
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "Unknown error";
}
}  // namespace

std::string ErrnoMessage(int err) {
  char buf[256] = {};
  return StrerrorResult(strerror_r(err, buf, sizeof buf), buf);
}

void SetLogLevel(Level level) { g_level.store(static_cast<int>(level)); }

void JsonEscape(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
}

void Log(Level level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char when[64];
  (void)std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
                      t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
  std::string line = "{\"ts\":\"";
  line += when;
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"msg\":\"";
  JsonEscape(msg, &line);
  line += '"';
  for (const LogField& f : fields) {
    line += ",\"";
    JsonEscape(f.key, &line);
    line += "\":";
    if (f.is_num) {
      line += std::to_string(f.num);
    } else {
      line += '"';
      JsonEscape(f.str, &line);
      line += '"';
    }
  }
  line += "}\n";
  // One write per line: lines from several threads do not interleave.
  ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
  (void)r;
}

}  // namespace keyhold::daemon
