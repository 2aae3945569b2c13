#include "keyset/registry.h"

#include <openssl/rand.h>

#include "backend/openssl.h"
#include "wire/header.h"

namespace keyhold::keyset {
namespace {

constexpr uint32_t H = wire::kHeaderLen;
constexpr uint64_t k2Pow32 = uint64_t{1} << 32;

// Sizes: key, nonce, tag, header, overhead, max output, public key.
constexpr AlgInfo kAlgs[] = {
    {KH_ALG_AES256_GCM, "AES256_GCM", Family::kAead, {32, 12, 16, H, H + 12 + 16, 0, 0}, k2Pow32},
    {KH_ALG_CHACHA20_POLY1305,
     "CHACHA20_POLY1305",
     Family::kAead,
     {32, 12, 16, H, H + 12 + 16, 0, 0},
     k2Pow32},
    {KH_ALG_XCHACHA20_POLY1305, "XCHACHA20_POLY1305", Family::kAead, {32, 24, 16, H, H + 24 + 16, 0, 0}, 0},
    {KH_ALG_AES256_SIV, "AES256_SIV", Family::kDaead, {64, 0, 16, H, H + 16, 0, 0}, 0},
    {KH_ALG_HMAC_SHA256, "HMAC_SHA256", Family::kMac, {32, 0, 32, H, 0, H + 32, 0}, 0},
    {KH_ALG_HMAC_SHA512, "HMAC_SHA512", Family::kMac, {64, 0, 64, H, 0, H + 64, 0}, 0},
    {KH_ALG_ED25519, "ED25519", Family::kSig, {32, 0, 0, H, 0, H + 64, 32}, 0},
    {KH_ALG_ECDSA_P256_SHA256_DER, "ECDSA_P256_SHA256_DER", Family::kSig, {32, 0, 0, H, 0, H + 72, 65}, 0},
    {KH_ALG_ECDSA_P256_SHA256_P1363,
     "ECDSA_P256_SHA256_P1363",
     Family::kSig,
     {32, 0, 0, H, 0, H + 64, 65},
     0},
    {KH_ALG_X25519, "X25519", Family::kKex, {32, 0, 0, 0, 0, 32, 32}, 0},
    {KH_ALG_HKDF_SHA256, "HKDF_SHA256", Family::kKdf, {32, 0, 0, 0, 0, 255 * 32, 0}, 0},
    {KH_ALG_HKDF_SHA512, "HKDF_SHA512", Family::kKdf, {64, 0, 0, 0, 0, 255 * 64, 0}, 0},
};

template <typename T>
StatusOr<Primitive> Wrap(StatusOr<std::unique_ptr<T>> p, std::unique_ptr<T> Primitive::*member) {
  if (!p.ok()) return p.status();
  Primitive out;
  out.*member = std::move(p).value();
  return out;
}

}  // namespace

const AlgInfo* FindAlg(uint32_t alg) {
  for (const AlgInfo& a : kAlgs) {
    if (static_cast<uint32_t>(a.alg) == alg) return &a;
  }
  return nullptr;
}

StatusOr<secmem::SecretBytes> GenerateKey(const AlgInfo& info) {
  switch (info.alg) {
    case KH_ALG_ED25519:
      return sig::GenerateEd25519();
    case KH_ALG_ECDSA_P256_SHA256_DER:
    case KH_ALG_ECDSA_P256_SHA256_P1363:
      return sig::GenerateEcdsaP256();
    default:
      break;
  }
  auto key = secmem::SecretBytes::Create(info.sizes.key_len);
  if (!key.ok()) return Status(KH_E_OUT_OF_MEMORY);
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  return key;
}

StatusOr<Primitive> MakePrimitive(const AlgInfo& info, ByteView key) {
  switch (info.alg) {
    case KH_ALG_AES256_GCM:
      return Wrap(aead::NewAes256Gcm(key), &Primitive::aead);
    case KH_ALG_CHACHA20_POLY1305:
      return Wrap(aead::NewChaCha20Poly1305(key), &Primitive::aead);
    case KH_ALG_XCHACHA20_POLY1305:
      return Wrap(aead::NewXChaCha20Poly1305(key), &Primitive::aead);
    case KH_ALG_AES256_SIV:
      return Wrap(daead::NewAesSiv(key), &Primitive::daead);
    case KH_ALG_HMAC_SHA256:
    case KH_ALG_HMAC_SHA512:
      return Wrap(mac::NewHmac(info.alg, key), &Primitive::mac);
    case KH_ALG_ED25519:
      return Wrap(sig::NewEd25519(key), &Primitive::sig);
    case KH_ALG_ECDSA_P256_SHA256_DER:
      return Wrap(sig::NewEcdsaP256(key, false), &Primitive::sig);
    case KH_ALG_ECDSA_P256_SHA256_P1363:
      return Wrap(sig::NewEcdsaP256(key, true), &Primitive::sig);
    case KH_ALG_X25519:
      return Wrap(kex::NewX25519(key), &Primitive::kex);
    case KH_ALG_HKDF_SHA256:
    case KH_ALG_HKDF_SHA512:
      return Wrap(kdf::NewHkdf(info.alg, key), &Primitive::kdf);
    case KH_ALG_MAX_ENUM_:
      break;
  }
  return Status(KH_E_UNSUPPORTED);
}

StatusOr<Primitive> MakePublicPrimitive(const AlgInfo& info, ByteView pub) {
  switch (info.alg) {
    case KH_ALG_ED25519:
      return Wrap(sig::NewEd25519Public(pub), &Primitive::sig);
    case KH_ALG_ECDSA_P256_SHA256_DER:
      return Wrap(sig::NewEcdsaP256Public(pub, false), &Primitive::sig);
    case KH_ALG_ECDSA_P256_SHA256_P1363:
      return Wrap(sig::NewEcdsaP256Public(pub, true), &Primitive::sig);
    default:
      return Status(KH_E_WRONG_PRIMITIVE);
  }
}

}  // namespace keyhold::keyset
