// ECDSA P-256 with SHA-256 over OpenSSL. The EVP_PKEY is built once per key;
// signing and verifying contexts are pooled and initialised once, so a call
// costs one SHA-256 and one EVP_PKEY_sign/verify. OpenSSL's verifier
// re-encodes DER signatures and rejects non-canonical ones.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "backend/openssl.h"
#include "sig/sig.h"

namespace keyhold::sig {
namespace {

constexpr size_t kScalarLen = 32;
constexpr size_t kPointLen = 65;

struct BnFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct GroupFree {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct PointFree {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// FromData builds an EC P-256 EVP_PKEY from an encoded point and an
// optional private scalar.
backend::PkeyPtr FromData(const uint8_t* point, const BIGNUM* priv) {
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, kPointLen) != 1 ||
      (priv != nullptr && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)) {
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  backend::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return backend::PkeyPtr(pkey);
}

struct X509PubkeyFree {
  void operator()(X509_PUBKEY* k) const { X509_PUBKEY_free(k); }
};

// FromSpki parses a P-256 SubjectPublicKeyInfo whose point is uncompressed
// and rebuilds the key from that point. RFC 5480 section 2.2 requires
// rejecting the hybrid forms (0x06, 0x07), which OpenSSL accepts; the
// compressed forms are refused as well, as Go's crypto/x509 does. OpenSSL
// also remembers the form it parsed and would re-emit it on DER export, so
// rebuilding from the uncompressed point makes every accepted key export as
// the same bytes however it was imported (found by fuzz/import_public.cc).
backend::PkeyPtr FromSpki(ByteView der) {
  const uint8_t* p = der.data();
  std::unique_ptr<X509_PUBKEY, X509PubkeyFree> spki(
      d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!spki || p != der.data() + der.size()) return nullptr;
  EVP_PKEY* parsed = X509_PUBKEY_get0(spki.get());  // owned by spki
  char group[32] = {0};
  size_t glen = 0;
  if (parsed == nullptr || !EVP_PKEY_is_a(parsed, "EC") ||
      EVP_PKEY_get_utf8_string_param(parsed, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
      std::string_view(group, glen) != "prime256v1") {
    return nullptr;
  }
  const unsigned char* point = nullptr;
  int point_len = 0;
  if (X509_PUBKEY_get0_param(nullptr, &point, &point_len, nullptr, spki.get()) != 1 ||
      point_len != static_cast<int>(kPointLen) || point[0] != 0x04) {
    return nullptr;
  }
  return FromData(point, nullptr);
}

class EcdsaP256 final : public Signer {
 public:
  EcdsaP256(backend::PkeyPtr pkey, bool has_private, bool p1363)
      : pkey_(std::move(pkey)),
        has_private_(has_private),
        p1363_(p1363),
        sign_pool_([this] { return NewCtx(true); }),
        verify_pool_([this] { return NewCtx(false); }) {}

  bool has_private() const override { return has_private_; }

  Status Sign(std::initializer_list<ByteView> parts, uint8_t* out, size_t* out_len) const override {
    uint8_t digest[32];
    KH_RETURN_IF_ERROR(Digest(parts, digest));
    return SignDigest(ByteView(digest, sizeof(digest)), out, out_len);
  }

  Status SignDigest(ByteView digest, uint8_t* out, size_t* out_len) const override {
    if (!has_private_) return KH_E_WRONG_PRIMITIVE;
    if (digest.size() != 32) return KH_E_INVALID_ARGUMENT;
    auto lease = sign_pool_.Acquire();
    uint8_t der[kMaxSigLen];
    size_t der_len = sizeof(der);
    if (!lease || EVP_PKEY_sign(lease.get(), der, &der_len, digest.data(), digest.size()) != 1) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    if (!p1363_) {
      std::copy(der, der + der_len, out);
      *out_len = der_len;
      return OkStatus();
    }
    const uint8_t* p = der;
    std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) != 32) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    *out_len = 64;
    return OkStatus();
  }

  Status Verify(std::initializer_list<ByteView> parts, ByteView sig) const override {
    uint8_t der_buf[kMaxSigLen];
    ByteView der = sig;
    if (p1363_) {
      if (sig.size() != 64) return KH_E_AUTH_FAILED;
      std::unique_ptr<ECDSA_SIG, SigFree> s(ECDSA_SIG_new());
      BIGNUM* r = BN_bin2bn(sig.data(), 32, nullptr);
      BIGNUM* sv = BN_bin2bn(sig.data() + 32, 32, nullptr);
      if (!s || !r || !sv || ECDSA_SIG_set0(s.get(), r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        backend::ClearErrors();
        return KH_E_OUT_OF_MEMORY;
      }
      uint8_t* p = der_buf;
      const int n = i2d_ECDSA_SIG(s.get(), &p);
      if (n <= 0) {
        backend::ClearErrors();
        return KH_E_AUTH_FAILED;
      }
      der = ByteView(der_buf, static_cast<size_t>(n));
    } else if (sig.empty() || sig.size() > kMaxSigLen) {
      return KH_E_AUTH_FAILED;
    }
    uint8_t digest[32];
    KH_RETURN_IF_ERROR(Digest(parts, digest));
    auto lease = verify_pool_.Acquire();
    if (!lease) {
      backend::ClearErrors();
      return KH_E_OUT_OF_MEMORY;
    }
    const int rc = EVP_PKEY_verify(lease.get(), der.data(), der.size(), digest, sizeof(digest));
    if (rc != 1) {
      backend::ClearErrors();
      return KH_E_AUTH_FAILED;
    }
    return OkStatus();
  }

  Status PublicKey(uint32_t format, std::vector<uint8_t>* out) const override {
    if (format == KH_PUBKEY_RAW) {
      out->resize(kPointLen);
      size_t n = 0;
      if (EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out->data(),
                                          out->size(), &n) != 1 ||
          n != kPointLen) {
        backend::ClearErrors();
        return KH_E_INTERNAL;
      }
      return OkStatus();
    }
    if (format != KH_PUBKEY_DER) return KH_E_UNSUPPORTED;
    const int n = i2d_PUBKEY(pkey_.get(), nullptr);
    if (n <= 0) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    out->resize(static_cast<size_t>(n));
    uint8_t* p = out->data();
    i2d_PUBKEY(pkey_.get(), &p);
    return OkStatus();
  }

 private:
  static Status Digest(std::initializer_list<ByteView> parts, uint8_t* digest) {
    backend::MdCtxPtr md(EVP_MD_CTX_new());
    bool ok = md && EVP_DigestInit_ex2(md.get(), backend::Fetched().sha256, nullptr) == 1;
    for (ByteView p : parts) {
      if (ok && !p.empty()) ok = EVP_DigestUpdate(md.get(), p.data(), p.size()) == 1;
    }
    unsigned int n = 0;
    if (!ok || EVP_DigestFinal_ex(md.get(), digest, &n) != 1 || n != 32) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    return OkStatus();
  }

  backend::PkeyCtxPtr NewCtx(bool sign) const {
    backend::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    if (!ctx) return nullptr;
    if ((sign ? EVP_PKEY_sign_init(ctx.get()) : EVP_PKEY_verify_init(ctx.get())) != 1) return nullptr;
    return ctx;
  }

  backend::PkeyPtr pkey_;
  bool has_private_;
  bool p1363_;
  mutable backend::CtxPool<EVP_PKEY_CTX, backend::PkeyCtxFree> sign_pool_;
  mutable backend::CtxPool<EVP_PKEY_CTX, backend::PkeyCtxFree> verify_pool_;
};

}  // namespace

StatusOr<secmem::SecretBytes> GenerateEcdsaP256() {
  backend::PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  BIGNUM* priv = nullptr;
  if (!pkey || EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  BnPtr owned(priv);
  auto out = secmem::SecretBytes::Create(kScalarLen);
  if (!out.ok()) return Status(KH_E_OUT_OF_MEMORY);
  if (BN_bn2binpad(priv, out.data(), kScalarLen) != static_cast<int>(kScalarLen)) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  return out;
}

StatusOr<std::unique_ptr<Signer>> NewEcdsaP256(ByteView scalar, bool p1363) {
  if (scalar.size() != kScalarLen) return Status(KH_E_INVALID_ARGUMENT);
  std::unique_ptr<EC_GROUP, GroupFree> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnPtr priv(BN_secure_new());
  if (!group || !priv || BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), priv.get()) == nullptr) {
    backend::ClearErrors();
    return Status(KH_E_OUT_OF_MEMORY);
  }
  // The scalar must be in [1, n-1].
  if (BN_is_zero(priv.get()) || BN_cmp(priv.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return Status(KH_E_INVALID_ARGUMENT);
  }
  std::unique_ptr<EC_POINT, PointFree> pub(EC_POINT_new(group.get()));
  uint8_t point[kPointLen];
  if (!pub || EC_POINT_mul(group.get(), pub.get(), priv.get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point),
                         nullptr) != kPointLen) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  backend::PkeyPtr pkey = FromData(point, priv.get());
  if (!pkey) {
    backend::ClearErrors();
    return Status(KH_E_INTERNAL);
  }
  return std::unique_ptr<Signer>(new EcdsaP256(std::move(pkey), true, p1363));
}

StatusOr<std::unique_ptr<Signer>> NewEcdsaP256Public(ByteView pub, bool p1363) {
  backend::PkeyPtr pkey;
  if (pub.size() == kPointLen && pub[0] == 0x04) {
    pkey = FromData(pub.data(), nullptr);
  } else {
    pkey = FromSpki(pub);
  }
  if (!pkey) {
    backend::ClearErrors();
    return Status(KH_E_INVALID_ARGUMENT);
  }
  return std::unique_ptr<Signer>(new EcdsaP256(std::move(pkey), false, p1363));
}

}  // namespace keyhold::sig
