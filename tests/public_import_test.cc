// kh_keyset_import_public's P-256 encodings (docs/spec/abi.md, Public-key
// import): the uncompressed point, raw or in a SubjectPublicKeyInfo, and
// nothing else. Found by fuzz/import_public.cc: OpenSSL accepted a hybrid
// point (RFC 5480 section 2.2: MUST be rejected) and re-emitted the parsed
// form on DER export, so one key exported differently by import path.
#include "test_util.h"

namespace keyhold {
namespace {

using Bytes = std::vector<uint8_t>;

class PublicImport : public keyhold::testing::EngineFixture {
 protected:
  Bytes Export(kh_handle ks, uint32_t format) {
    Bytes out(128);
    size_t n = 0;
    EXPECT_EQ(kh_keyset_public_key(ks, 0, format, out.data(), out.size(), &n), KH_OK);
    out.resize(n);
    return out;
  }
  kh_status Import(const Bytes& pub, kh_handle* ks) {
    return kh_keyset_import_public(engine_, KH_ALG_ECDSA_P256_SHA256_DER, pub.data(), pub.size(), ks);
  }
};

// Spki wraps a SEC1 point in the P-256 SubjectPublicKeyInfo of der.
Bytes Spki(const Bytes& der, const Bytes& point) {
  const Bytes alg(der.begin() + 2, der.begin() + 2 + 2 + der[3]);  // the AlgorithmIdentifier
  // Built byte by byte: GCC 12 -O3 misreads inserts into a short vector
  // as out of bounds (-Warray-bounds).
  Bytes out;
  out.reserve(5 + alg.size() + point.size());
  out.push_back(0x30);
  out.push_back(static_cast<uint8_t>(alg.size() + 3 + point.size()));
  for (uint8_t b : alg) out.push_back(b);
  out.push_back(0x03);
  out.push_back(static_cast<uint8_t>(point.size() + 1));
  out.push_back(0x00);
  for (uint8_t b : point) out.push_back(b);
  return out;
}

TEST_F(PublicImport, OnlyUncompressedP256PointsAndOneExportPerKey) {
  const kh_handle gen = Generate(KH_ALG_ECDSA_P256_SHA256_DER);
  const Bytes raw = Export(gen, KH_PUBKEY_RAW), der = Export(gen, KH_PUBKEY_DER);
  ASSERT_EQ(raw.size(), 65u);
  ASSERT_EQ(Spki(der, raw), der);
  const uint8_t odd = raw[64] & 1;
  Bytes compressed = {static_cast<uint8_t>(0x02 | odd)};
  compressed.insert(compressed.end(), raw.begin() + 1, raw.begin() + 33);
  Bytes hybrid = raw;
  hybrid[0] = static_cast<uint8_t>(0x06 | odd);

  for (const Bytes& good : {raw, der}) {
    kh_handle ks = 0;
    ASSERT_EQ(Import(good, &ks), KH_OK);
    EXPECT_EQ(Export(ks, KH_PUBKEY_RAW), raw);
    EXPECT_EQ(Export(ks, KH_PUBKEY_DER), der);
    EXPECT_EQ(kh_handle_close(ks), KH_OK);
  }
  for (const Bytes& bad : {Spki(der, compressed), Spki(der, hybrid), compressed, hybrid}) {
    kh_handle ks = 7;
    EXPECT_EQ(Import(bad, &ks), KH_E_INVALID_ARGUMENT);
    EXPECT_EQ(ks, 0u);
  }
  EXPECT_EQ(kh_handle_close(gen), KH_OK);
}

}  // namespace
}  // namespace keyhold
