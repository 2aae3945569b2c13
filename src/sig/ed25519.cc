// Ed25519 over libsodium: about 1.8x faster than OpenSSL 3.0 on the
// project's machines for both signing and verifying (BASELINES.md).
// libsodium verifies strictly: canonical S, no small-order points.
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "backend/openssl.h"
#include "sig/sig.h"

namespace keyhold::sig {
namespace {

// Join the message parts: Ed25519 signs a message in one pass over it.
std::vector<uint8_t> Join(std::initializer_list<ByteView> parts) {
  size_t n = 0;
  for (ByteView p : parts) n += p.size();
  std::vector<uint8_t> out;
  out.reserve(n);
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class Ed25519 final : public Signer {
 public:
  Ed25519(secmem::SecretBytes sk, const uint8_t pk[32]) : sk_(std::move(sk)) { std::copy(pk, pk + 32, pk_); }

  bool has_private() const override { return sk_.ok(); }

  Status Sign(std::initializer_list<ByteView> parts, uint8_t* out, size_t* out_len) const override {
    if (!sk_.ok()) return KH_E_WRONG_PRIMITIVE;
    const uint8_t* msg = nullptr;
    size_t msg_len = 0;
    std::vector<uint8_t> joined;
    if (parts.size() == 1) {
      msg = parts.begin()->data();
      msg_len = parts.begin()->size();
    } else {
      joined = Join(parts);
      msg = joined.data();
      msg_len = joined.size();
    }
    crypto_sign_ed25519_detached(out, nullptr, msg, msg_len, sk_.data());
    *out_len = crypto_sign_ed25519_BYTES;
    return OkStatus();
  }

  Status Verify(std::initializer_list<ByteView> parts, ByteView sig) const override {
    if (sig.size() != crypto_sign_ed25519_BYTES) return KH_E_AUTH_FAILED;
    int rc;
    if (parts.size() == 1) {
      rc = crypto_sign_ed25519_verify_detached(sig.data(), parts.begin()->data(), parts.begin()->size(), pk_);
    } else {
      std::vector<uint8_t> joined = Join(parts);
      rc = crypto_sign_ed25519_verify_detached(sig.data(), joined.data(), joined.size(), pk_);
    }
    return rc == 0 ? OkStatus() : Status(KH_E_AUTH_FAILED);
  }

  Status PublicKey(uint32_t format, std::vector<uint8_t>* out) const override {
    if (format == KH_PUBKEY_RAW) {
      out->assign(pk_, pk_ + 32);
      return OkStatus();
    }
    if (format != KH_PUBKEY_DER) return KH_E_UNSUPPORTED;
    backend::PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pk_, 32));
    int n = pkey ? i2d_PUBKEY(pkey.get(), nullptr) : -1;
    if (n <= 0) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    out->resize(static_cast<size_t>(n));
    uint8_t* p = out->data();
    i2d_PUBKEY(pkey.get(), &p);
    return OkStatus();
  }

 private:
  secmem::SecretBytes sk_;  // libsodium's 64-byte form: seed || public key
  uint8_t pk_[32];
};

}  // namespace

StatusOr<secmem::SecretBytes> GenerateEd25519() {
  auto seed = secmem::SecretBytes::Create(crypto_sign_ed25519_SEEDBYTES);
  if (!seed.ok()) return Status(KH_E_OUT_OF_MEMORY);
  randombytes_buf(seed.data(), seed.size());
  return seed;
}

StatusOr<std::unique_ptr<Signer>> NewEd25519(ByteView seed) {
  if (seed.size() != crypto_sign_ed25519_SEEDBYTES) return Status(KH_E_INVALID_ARGUMENT);
  auto sk = secmem::SecretBytes::Create(crypto_sign_ed25519_SECRETKEYBYTES);
  if (!sk.ok()) return Status(KH_E_OUT_OF_MEMORY);
  uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
  crypto_sign_ed25519_seed_keypair(pk, sk.data(), seed.data());
  return std::unique_ptr<Signer>(new Ed25519(std::move(sk), pk));
}

StatusOr<std::unique_ptr<Signer>> NewEd25519Public(ByteView pub) {
  uint8_t pk[32];
  if (pub.size() == 32) {
    std::copy(pub.begin(), pub.end(), pk);
  } else {
    const uint8_t* p = pub.data();
    backend::PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(pub.size())));
    size_t n = sizeof(pk);
    if (!pkey || p != pub.data() + pub.size() || EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pkey.get(), pk, &n) != 1 || n != 32) {
      backend::ClearErrors();
      return Status(KH_E_INVALID_ARGUMENT);
    }
  }
  return std::unique_ptr<Signer>(new Ed25519(secmem::SecretBytes(), pk));
}

}  // namespace keyhold::sig
