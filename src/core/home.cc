#include "core/home.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace keyhold::core {

Status KeyholdHome(std::string* out) {
  const char* home = ::secure_getenv("KEYHOLD_HOME");
  if (home != nullptr && *home != '\0') {
    *out = home;
    return OkStatus();
  }
  const char* user_home = ::secure_getenv("HOME");
  if (user_home != nullptr && *user_home != '\0') {
    *out = std::string(user_home) + "/.keyhold";
    return OkStatus();
  }
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr ||
      pw.pw_dir == nullptr || *pw.pw_dir == '\0') {
    return KH_E_IO;
  }
  *out = std::string(pw.pw_dir) + "/.keyhold";
  return OkStatus();
}

}  // namespace keyhold::core
