#include "core/engine.h"

#include <openssl/crypto.h>
#include <sodium.h>

#include "aead/backends.h"
#include "build_info.h"
#include "selftest/selftest.h"

#if KEYHOLD_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#define KEYHOLD_IPSEC_MB_BUILT IMB_VERSION_STR
#else
#define KEYHOLD_IPSEC_MB_BUILT ""
#endif

namespace keyhold::core {
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
    s += std::string("\"libsodium_runtime\":\"") + sodium_version_string() + "\",";
    s += "\"ipsec_mb_built\":\"" KEYHOLD_IPSEC_MB_BUILT "\",";
    s += std::string("\"ipsec_mb_runtime\":\"") + aead::IpsecMbVersion() + "\",";
    s += "\"crypto_fingerprint\":" KEYHOLD_CRYPTO_FINGERPRINT;
    s += "}";
    return s;
  }();
  return json.c_str();
}

const char* RuntimeInfoJson() {
  static const std::string json = [] {
    // The self-test may disable an accelerated backend; after it the
    // selections are final, so the string can be built once.
    const bool passed = selftest::Run() == selftest::State::kPassed;
    const aead::Selection gcm = aead::Selected(aead::Accelerated::kAes256Gcm);
    const aead::Selection cc = aead::Selected(aead::Accelerated::kChaCha20Poly1305);
    auto name = [](const aead::Selection& sel) {
      return sel.backend == aead::Backend::kIpsecMb ? "ipsec-mb" : "openssl";
    };
    // The library is probed at most once per process, for either primitive.
    const aead::Selection& probed = gcm.probed ? gcm : cc;
    std::string s = "{";
    s += std::string("\"aes256_gcm_backend\":\"") + name(gcm) + "\",";
    s += std::string("\"aes256_gcm_requested\":\"") + gcm.requested + "\",";
    s += std::string("\"ipsec_mb_arch\":\"") + probed.arch + "\",";
    s += std::string("\"ipsec_mb_vaes\":") + (probed.vaes ? "true" : "false") + ",";
    s += std::string("\"ipsec_mb_version\":\"") + aead::IpsecMbVersion() + "\",";
    s += std::string("\"ipsec_mb_disabled_reason\":\"") + gcm.disabled_reason + "\",";
    s += std::string("\"chacha20_poly1305_backend\":\"") + name(cc) + "\",";
    s += std::string("\"chacha20_poly1305_requested\":\"") + cc.requested + "\",";
    s += std::string("\"chacha20_poly1305_ipsec_mb_disabled_reason\":\"") + cc.disabled_reason + "\",";
    s += std::string("\"self_test\":\"") + (passed ? "passed" : "failed") + "\"";
    s += "}";
    return s;
  }();
  return json.c_str();
}

}  // namespace keyhold::core
