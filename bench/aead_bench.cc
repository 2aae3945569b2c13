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
BENCHMARK_CAPTURE(BM_Keyhold_SealNonce, aes256gcm, KH_ALG_AES256_GCM)->Apply(Sizes);
BENCHMARK(BM_Keyhold_Batch64)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(BM_OpenSSL_Tuned, aes256gcm, "AES-256-GCM")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_Naive, aes256gcm, EVP_aes_256_gcm)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Encrypt, chacha20poly1305, KH_ALG_CHACHA20_POLY1305)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_OpenSSL_Tuned, chacha20poly1305, "ChaCha20-Poly1305")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Encrypt, xchacha20poly1305, KH_ALG_XCHACHA20_POLY1305)->Apply(Sizes);
BENCHMARK(BM_Sodium_XChaCha)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Keyhold_Sign, ed25519, KH_ALG_ED25519);
BENCHMARK(BM_Sodium_Ed25519Sign);
BENCHMARK_CAPTURE(BM_Keyhold_Sign, ecdsa_p256, KH_ALG_ECDSA_P256_SHA256_DER);
BENCHMARK(BM_OpenSSL_EcdsaSign);
BENCHMARK(BM_Keyhold_Mac)->Arg(64)->Arg(16384);
BENCHMARK(BM_OpenSSL_HmacReused)->Arg(64)->Arg(16384);
