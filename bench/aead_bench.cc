// Side-by-side benchmarks: keyhold through its C ABI against the raw
// backends doing the same work (BASELINES.md method: nonce changed every
// message, no AAD). Run: make bench-cpp (or build/bin/keyhold_bench).
#include <benchmark/benchmark.h>
#include <keyhold/keyhold.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <cstring>
#include <vector>

#if defined(__x86_64__) && __has_include(<intel-ipsec-mb.h>)
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#define KH_BENCH_IPSEC_MB 1
#endif

namespace {

constexpr int64_t kSizes[] = {64, 1024, 16384, 1 << 20};

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t s : kSizes) b->Arg(s);
}

struct Engine {
  kh_handle h = 0;
  Engine() {
    if (kh_engine_open(&h) != KH_OK) std::abort();
  }
};
kh_handle TheEngine() {
  static Engine e;
  return e.h;
}

void BumpNonce(uint8_t* n) {
  for (int i = 0; i < 8; ++i) {
    if (++n[i] != 0) break;
  }
}

// KeyholdBackend labels keyhold's AES-GCM and ChaCha20-Poly1305 results
// with the backend this process selected (KEYHOLD_AESGCM_BACKEND=openssl or
// KEYHOLD_CHACHA20_POLY1305_BACKEND=openssl measure the other).
const char* KeyholdBackend(kh_alg alg) {
  const char* key = alg == KH_ALG_AES256_GCM          ? "\"aes256_gcm_backend\":\"ipsec-mb\""
                    : alg == KH_ALG_CHACHA20_POLY1305 ? "\"chacha20_poly1305_backend\":\"ipsec-mb\""
                                                      : nullptr;
  if (key == nullptr) return "";
  (void)TheEngine();
  return std::strstr(kh_runtime_info(), key) ? "ipsec-mb" : "openssl";
}

// keyhold managed keyset: header + random nonce + ciphertext + tag.
void BM_Keyhold_Encrypt(benchmark::State& st, kh_alg alg) {
  kh_handle ks = 0;
  if (kh_keyset_generate(TheEngine(), alg, 0, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size() + 64);
  size_t n = 0;
  for (auto _ : st) {
    if (kh_aead_encrypt(ks, pt.data(), pt.size(), nullptr, 0, out.data(), out.size(), &n) != KH_OK)
      std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  st.SetLabel(KeyholdBackend(alg));
  (void)kh_handle_close(ks);
}

// keyhold managed keyset: decrypt one ciphertext made once.
void BM_Keyhold_Decrypt(benchmark::State& st, kh_alg alg) {
  kh_handle ks = 0;
  if (kh_keyset_generate(TheEngine(), alg, 0, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> pt(st.range(0), 0x42), ct(pt.size() + 64), back(pt.size() + 64);
  size_t n = 0, m = 0;
  if (kh_aead_encrypt(ks, pt.data(), pt.size(), nullptr, 0, ct.data(), ct.size(), &n) != KH_OK) std::abort();
  for (auto _ : st) {
    if (kh_aead_decrypt(ks, ct.data(), n, nullptr, 0, back.data(), back.size(), &m) != KH_OK) std::abort();
    benchmark::DoNotOptimize(back.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  st.SetLabel(KeyholdBackend(alg));
  (void)kh_handle_close(ks);
}

// keyhold raw keyset with a caller nonce: the cipher.AEAD shape.
void BM_Keyhold_SealNonce(benchmark::State& st, kh_alg alg) {
  uint8_t key[32] = {1};
  kh_handle ks = 0;
  if (kh_keyset_import_raw(TheEngine(), alg, key, 32, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size() + 16);
  uint8_t nonce[12] = {0};
  size_t n = 0;
  for (auto _ : st) {
    BumpNonce(nonce);
    if (kh_aead_seal_nonce(ks, nonce, 12, pt.data(), pt.size(), nullptr, 0, out.data(), out.size(), &n) !=
        KH_OK) {
      std::abort();
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  st.SetLabel(KeyholdBackend(alg));
  (void)kh_handle_close(ks);
}

// keyhold raw keyset, caller nonce: open one sealed message.
void BM_Keyhold_OpenNonce(benchmark::State& st, kh_alg alg) {
  uint8_t key[32] = {1};
  kh_handle ks = 0;
  if (kh_keyset_import_raw(TheEngine(), alg, key, 32, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> pt(st.range(0), 0x42), ct(pt.size() + 16), back(pt.size());
  uint8_t nonce[12] = {7};
  size_t n = 0, m = 0;
  if (kh_aead_seal_nonce(ks, nonce, 12, pt.data(), pt.size(), nullptr, 0, ct.data(), ct.size(), &n) !=
      KH_OK) {
    std::abort();
  }
  for (auto _ : st) {
    if (kh_aead_open_nonce(ks, nonce, 12, ct.data(), n, nullptr, 0, back.data(), back.size(), &m) != KH_OK) {
      std::abort();
    }
    benchmark::DoNotOptimize(back.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  st.SetLabel(KeyholdBackend(alg));
  (void)kh_handle_close(ks);
}

// keyhold batch: 64 items of one keyset per crossing; per-item time.
void BM_Keyhold_Batch64(benchmark::State& st) {
  kh_handle ks = 0;
  if (kh_keyset_generate(TheEngine(), KH_ALG_AES256_GCM, 0, &ks) != KH_OK) std::abort();
  constexpr int kItems = 64;
  std::vector<uint8_t> pt(st.range(0), 0x42), out(kItems * (pt.size() + 64));
  kh_batch_item items[kItems];
  for (int i = 0; i < kItems; ++i) {
    items[i] = kh_batch_item{};
    items[i].keyset = ks;
    items[i].op = KH_OP_AEAD_ENCRYPT;
    items[i].in = pt.data();
    items[i].in_len = pt.size();
    items[i].out = out.data() + i * (pt.size() + 64);
    items[i].out_cap = pt.size() + 64;
  }
  size_t failed = 0;
  for (auto _ : st) {
    if (kh_batch(items, kItems, &failed) != KH_OK || failed != 0) std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * kItems);
  st.SetBytesProcessed(st.iterations() * kItems * st.range(0));
  (void)kh_handle_close(ks);
}

// OpenSSL tuned: fetched cipher, one context keyed once, IV reset per message.
void BM_OpenSSL_Tuned(benchmark::State& st, const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  uint8_t key[32] = {1}, nonce[12] = {0}, tag[16];
  EVP_EncryptInit_ex2(ctx, c, key, nullptr, nullptr);
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size());
  int l = 0;
  for (auto _ : st) {
    BumpNonce(nonce);
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce);
    EVP_EncryptUpdate(ctx, out.data(), &l, pt.data(), static_cast<int>(pt.size()));
    EVP_EncryptFinal_ex(ctx, out.data() + l, &l);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
}

// OpenSSL tuned, decryption: one context keyed once; per message the IV,
// the expected tag and the final check.
void BM_OpenSSL_TunedOpen(benchmark::State& st, const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  uint8_t key[32] = {1}, nonce[12] = {7}, tag[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), ct(pt.size() + 16), back(pt.size() + 16);
  int l = 0;
  EVP_EncryptInit_ex2(enc, c, key, nonce, nullptr);
  EVP_EncryptUpdate(enc, ct.data(), &l, pt.data(), static_cast<int>(pt.size()));
  EVP_EncryptFinal_ex(enc, ct.data() + l, &l);
  EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, tag);
  EVP_DecryptInit_ex2(dec, c, key, nullptr, nullptr);
  for (auto _ : st) {
    EVP_DecryptInit_ex(dec, nullptr, nullptr, nullptr, nonce);
    EVP_DecryptUpdate(dec, back.data(), &l, ct.data(), static_cast<int>(pt.size()));
    EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    if (EVP_DecryptFinal_ex(dec, back.data() + l, &l) != 1) std::abort();
    benchmark::DoNotOptimize(back.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  EVP_CIPHER_CTX_free(enc);
  EVP_CIPHER_CTX_free(dec);
  EVP_CIPHER_free(c);
}

#ifdef KH_BENCH_IPSEC_MB
// The raw intel-ipsec-mb backend: one manager (the library's own choice of
// architecture), the key precomputed once, the one-shot calls per message.
struct IpsecMb {
  IMB_MGR* mgr = alloc_mb_mgr(0);
  alignas(64) gcm_key_data key;
  IpsecMb() {
    if (mgr == nullptr) std::abort();
    init_mb_mgr_auto(mgr, nullptr);
    if (imb_get_errno(mgr) != 0) std::abort();
    const uint8_t raw[32] = {1};
    IMB_AES256_GCM_PRE(mgr, raw, &key);
  }
  ~IpsecMb() { free_mb_mgr(mgr); }
};

void BM_IpsecMb_Seal(benchmark::State& st) {
  IpsecMb mb;
  uint8_t nonce[12] = {0}, tag[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size());
  gcm_context_data ctx;
  for (auto _ : st) {
    BumpNonce(nonce);
    IMB_AES256_GCM_ENC(mb.mgr, &mb.key, &ctx, out.data(), pt.data(), pt.size(), nonce, nullptr, 0, tag, 16);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}

void BM_IpsecMb_Open(benchmark::State& st) {
  IpsecMb mb;
  uint8_t nonce[12] = {7}, tag[16], got[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), ct(pt.size()), back(pt.size());
  gcm_context_data ctx;
  IMB_AES256_GCM_ENC(mb.mgr, &mb.key, &ctx, ct.data(), pt.data(), pt.size(), nonce, nullptr, 0, tag, 16);
  for (auto _ : st) {
    IMB_AES256_GCM_DEC(mb.mgr, &mb.key, &ctx, back.data(), ct.data(), ct.size(), nonce, nullptr, 0, got, 16);
    if (CRYPTO_memcmp(got, tag, 16) != 0) std::abort();
    benchmark::DoNotOptimize(back.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}

// ChaCha20-Poly1305 on intel-ipsec-mb (direct init/update/finalize API),
// against BM_OpenSSL_Tuned(Open)/chacha20poly1305: the measurement behind
// keyhold's choice of backend (decision 0011).
void BM_IpsecMb_ChaChaSeal(benchmark::State& st) {
  IpsecMb mb;
  const uint8_t key[32] = {1};
  uint8_t nonce[12] = {0}, tag[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size());
  chacha20_poly1305_context_data ctx;
  for (auto _ : st) {
    BumpNonce(nonce);
    IMB_CHACHA20_POLY1305_INIT(mb.mgr, key, &ctx, nonce, nullptr, 0);
    IMB_CHACHA20_POLY1305_ENC_UPDATE(mb.mgr, key, &ctx, out.data(), pt.data(), pt.size());
    IMB_CHACHA20_POLY1305_ENC_FINALIZE(mb.mgr, &ctx, tag, 16);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}

void BM_IpsecMb_ChaChaOpen(benchmark::State& st) {
  IpsecMb mb;
  const uint8_t key[32] = {1};
  uint8_t nonce[12] = {7}, tag[16], got[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), ct(pt.size()), back(pt.size());
  chacha20_poly1305_context_data ctx;
  IMB_CHACHA20_POLY1305_INIT(mb.mgr, key, &ctx, nonce, nullptr, 0);
  IMB_CHACHA20_POLY1305_ENC_UPDATE(mb.mgr, key, &ctx, ct.data(), pt.data(), pt.size());
  IMB_CHACHA20_POLY1305_ENC_FINALIZE(mb.mgr, &ctx, tag, 16);
  for (auto _ : st) {
    IMB_CHACHA20_POLY1305_INIT(mb.mgr, key, &ctx, nonce, nullptr, 0);
    IMB_CHACHA20_POLY1305_DEC_UPDATE(mb.mgr, key, &ctx, back.data(), ct.data(), ct.size());
    IMB_CHACHA20_POLY1305_DEC_FINALIZE(mb.mgr, &ctx, got, 16);
    if (CRYPTO_memcmp(got, tag, 16) != 0) std::abort();
    benchmark::DoNotOptimize(back.data());
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}
#endif  // KH_BENCH_IPSEC_MB

// OpenSSL naive: what most wrappers do -- new context and full init each time.
void BM_OpenSSL_Naive(benchmark::State& st, const EVP_CIPHER* (*cipher)()) {
  uint8_t key[32] = {1}, nonce[12] = {0}, tag[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size());
  int l = 0;
  for (auto _ : st) {
    BumpNonce(nonce);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, cipher(), nullptr, key, nonce);
    EVP_EncryptUpdate(ctx, out.data(), &l, pt.data(), static_cast<int>(pt.size()));
    EVP_EncryptFinal_ex(ctx, out.data() + l, &l);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(ctx);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}

void BM_Sodium_XChaCha(benchmark::State& st) {
  if (sodium_init() < 0) std::abort();
  uint8_t key[32] = {1}, nonce[24] = {0}, tag[16];
  std::vector<uint8_t> pt(st.range(0), 0x42), out(pt.size());
  unsigned long long tl = 0;
  for (auto _ : st) {
    BumpNonce(nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out.data(), tag, &tl, pt.data(), pt.size(), nullptr,
                                                        0, nullptr, nonce, key);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
}

void BM_Keyhold_Sign(benchmark::State& st, kh_alg alg) {
  kh_handle ks = 0;
  if (kh_keyset_generate(TheEngine(), alg, 0, &ks) != KH_OK) std::abort();
  uint8_t msg[64] = {7}, sig[128];
  size_t n = 0;
  for (auto _ : st) {
    if (kh_sig_sign_plain(ks, msg, sizeof msg, sig, sizeof sig, &n) != KH_OK) std::abort();
    benchmark::DoNotOptimize(sig);
  }
  (void)kh_handle_close(ks);
}

void BM_Sodium_Ed25519Sign(benchmark::State& st) {
  if (sodium_init() < 0) std::abort();
  uint8_t pk[32], sk[64], msg[64] = {7}, sig[64];
  crypto_sign_ed25519_keypair(pk, sk);
  for (auto _ : st) {
    crypto_sign_ed25519_detached(sig, nullptr, msg, sizeof msg, sk);
    benchmark::DoNotOptimize(sig);
  }
}

void BM_OpenSSL_EcdsaSign(benchmark::State& st) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  EVP_PKEY_sign_init(ctx);
  uint8_t msg[64] = {7}, dgst[32], sig[80];
  for (auto _ : st) {
    unsigned int dl = 0;
    size_t sl = sizeof sig;
    EVP_Digest(msg, sizeof msg, dgst, &dl, md, nullptr);
    EVP_PKEY_sign(ctx, sig, &sl, dgst, sizeof dgst);
    benchmark::DoNotOptimize(sig);
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_MD_free(md);
  EVP_PKEY_free(pkey);
}

void BM_Keyhold_Mac(benchmark::State& st) {
  kh_handle ks = 0;
  if (kh_keyset_generate(TheEngine(), KH_ALG_HMAC_SHA256, 0, &ks) != KH_OK) std::abort();
  std::vector<uint8_t> msg(st.range(0), 0x42);
  uint8_t tag[64];
  size_t n = 0;
  for (auto _ : st) {
    if (kh_mac_compute(ks, msg.data(), msg.size(), tag, sizeof tag, &n) != KH_OK) std::abort();
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  (void)kh_handle_close(ks);
}

void BM_OpenSSL_HmacReused(benchmark::State& st) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  uint8_t key[32] = {1}, tag[32];
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, key, sizeof key, params);
  std::vector<uint8_t> msg(st.range(0), 0x42);
  for (auto _ : st) {
    size_t n = 0;
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    EVP_MAC_update(ctx, msg.data(), msg.size());
    EVP_MAC_final(ctx, tag, &n, sizeof tag);
    benchmark::DoNotOptimize(tag);
  }
  st.SetBytesProcessed(st.iterations() * st.range(0));
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Keyhold_Encrypt, aes256gcm, KH_ALG_AES256_GCM)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Decrypt, aes256gcm, KH_ALG_AES256_GCM)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_SealNonce, aes256gcm, KH_ALG_AES256_GCM)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_OpenNonce, aes256gcm, KH_ALG_AES256_GCM)->Apply(Sizes);
BENCHMARK(BM_Keyhold_Batch64)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(BM_OpenSSL_Tuned, aes256gcm, "AES-256-GCM")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_TunedOpen, aes256gcm, "AES-256-GCM")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_Naive, aes256gcm, EVP_aes_256_gcm)->Apply(Sizes);
#ifdef KH_BENCH_IPSEC_MB
BENCHMARK(BM_IpsecMb_Seal)->Name("BM_IpsecMb_Seal/aes256gcm")->Apply(Sizes);
BENCHMARK(BM_IpsecMb_Open)->Name("BM_IpsecMb_Open/aes256gcm")->Apply(Sizes);
BENCHMARK(BM_IpsecMb_ChaChaSeal)->Name("BM_IpsecMb_Seal/chacha20poly1305")->Apply(Sizes);
BENCHMARK(BM_IpsecMb_ChaChaOpen)->Name("BM_IpsecMb_Open/chacha20poly1305")->Apply(Sizes);
#endif
BENCHMARK_CAPTURE(BM_Keyhold_Encrypt, chacha20poly1305, KH_ALG_CHACHA20_POLY1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Decrypt, chacha20poly1305, KH_ALG_CHACHA20_POLY1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_Tuned, chacha20poly1305, "ChaCha20-Poly1305")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_TunedOpen, chacha20poly1305, "ChaCha20-Poly1305")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Encrypt, xchacha20poly1305, KH_ALG_XCHACHA20_POLY1305)->Apply(Sizes);
BENCHMARK(BM_Sodium_XChaCha)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Sign, ed25519, KH_ALG_ED25519);
BENCHMARK(BM_Sodium_Ed25519Sign);
BENCHMARK_CAPTURE(BM_Keyhold_Sign, ecdsa_p256, KH_ALG_ECDSA_P256_SHA256_DER);
BENCHMARK(BM_OpenSSL_EcdsaSign);
BENCHMARK(BM_Keyhold_Mac)->Arg(64)->Arg(16384);
BENCHMARK(BM_OpenSSL_HmacReused)->Arg(64)->Arg(16384);
