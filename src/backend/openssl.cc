#include "backend/openssl.h"

#include <openssl/err.h>

namespace keyhold::backend {

const Algorithms& Fetched() {
  // Leaked on purpose: contexts may outlive static destruction order.
  static const Algorithms* algs = [] {
    auto* a = new Algorithms{
        EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr),
        EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr),
        EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr),
        EVP_CIPHER_fetch(nullptr, "AES-192-SIV", nullptr),
        EVP_CIPHER_fetch(nullptr, "AES-256-SIV", nullptr),
        EVP_MAC_fetch(nullptr, "HMAC", nullptr),
        EVP_MAC_fetch(nullptr, "CMAC", nullptr),
        EVP_KDF_fetch(nullptr, "HKDF", nullptr),
        EVP_MD_fetch(nullptr, "SHA256", nullptr),
        EVP_MD_fetch(nullptr, "SHA512", nullptr),
    };
    ERR_clear_error();
    return a;
  }();
  return *algs;
}

void ClearErrors() { ERR_clear_error(); }

}  // namespace keyhold::backend
