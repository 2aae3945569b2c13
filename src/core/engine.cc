#include "core/engine.h"

#include <openssl/crypto.h>
#include <sodium.h>

#include <cerrno>
#include <cstdlib>

#include "build_info.h"

namespace keyhold::core {

Status ConfigFromEnvironment(EngineConfig* out) {
  *out = EngineConfig{};
  const char* v = std::getenv("KEYHOLD_AEAD_MAX_MESSAGES");
  if (v == nullptr || *v == '\0') return OkStatus();
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n == 0) return KH_E_INVALID_ARGUMENT;
  out->aead_usage_limit = n;
  return OkStatus();
}

const char* BuildInfoJson() {
  static const std::string json = [] {
    std::string s = "{";
    s += "\"version\":\"" KEYHOLD_VERSION_STRING "\",";
    s += "\"abi_version\":" + std::to_string(KH_ABI_VERSION) + ",";
    s += "\"source_revision\":\"" KEYHOLD_SOURCE_REVISION "\",";
    s += "\"build_type\":\"" KEYHOLD_BUILD_TYPE "\",";
    s += "\"compiler\":\"" KEYHOLD_CXX_COMPILER "\",";
    s += "\"cxx_flags\":\"" KEYHOLD_CXX_FLAGS "\",";
    s += "\"sanitize\":\"" KEYHOLD_SANITIZE "\",";
    s += "\"openssl_built\":\"" OPENSSL_VERSION_TEXT "\",";
    s += std::string("\"openssl_runtime\":\"") + OpenSSL_version(OPENSSL_VERSION) + "\",";
    s += "\"libsodium_built\":\"" SODIUM_VERSION_STRING "\",";
    s += std::string("\"libsodium_runtime\":\"") + sodium_version_string() + "\"";
    s += "}";
    return s;
  }();
  return json.c_str();
}

}  // namespace keyhold::core
