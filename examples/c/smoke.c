/* smoke.c -- the keyhold C ABI end to end from plain C99: open an engine,
 * encrypt and decrypt, rotate, a stream, sign and verify, MAC, a batch, and the misuse
 * cases a C caller is most likely to hit. Exits 0 only if all behave. */
#include <keyhold/keyhold.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
static int passes = 0;

#define EXPECT(cond, what)                                    \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "FAIL %s (line %d)\n", what, __LINE__); \
      failures++;                                             \
    } else {                                                  \
      printf("ok   %s\n", what);                              \
      passes++;                                               \
    }                                                         \
  } while (0)

int main(void) {
  kh_handle engine = 0, aead = 0, signer = 0, mac = 0;
  kh_alg_sizes sizes;
  kh_keyset_info info;
  kh_batch_item items[2];
  size_t failed = 0, ct_len = 0, pt_len = 0, sig_len = 0, tag_len = 0, need = 0;
  const uint8_t msg[] = "attack at dawn";
  const uint8_t aad[] = "context";
  uint8_t ct[128], pt[128], sig[128], tag[128], ct2[128];
  uint32_t new_id = 0;

  printf("keyhold %s, ABI %u\n", kh_version(), (unsigned)kh_abi_version());
  EXPECT(kh_abi_version() == KH_ABI_VERSION, "ABI version matches header");
  EXPECT(kh_engine_open(&engine) == KH_OK, "engine opens (self-test passed)");

  EXPECT(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &aead) == KH_OK, "generate AES-256-GCM keyset");
  EXPECT(kh_alg_sizes_get(KH_ALG_AES256_GCM, &sizes) == KH_OK && sizes.overhead == 34,
         "overhead is 34 bytes");
  EXPECT(kh_aead_encrypt(aead, msg, sizeof msg, aad, sizeof aad, NULL, 0, &need) == KH_E_BUFFER_TOO_SMALL &&
             need == sizeof msg + sizes.overhead,
         "size query reports the ciphertext length");
  EXPECT(kh_aead_encrypt(aead, msg, sizeof msg, aad, sizeof aad, ct, sizeof ct, &ct_len) == KH_OK, "encrypt");
  EXPECT(kh_aead_decrypt(aead, ct, ct_len, aad, sizeof aad, pt, sizeof pt, &pt_len) == KH_OK &&
             pt_len == sizeof msg && memcmp(pt, msg, pt_len) == 0,
         "decrypt round trip");
  EXPECT(kh_keyset_rotate(aead, &new_id) == KH_OK && new_id != 0, "rotate");
  EXPECT(kh_aead_decrypt(aead, ct, ct_len, aad, sizeof aad, pt, sizeof pt, &pt_len) == KH_OK,
         "old ciphertext decrypts after rotation");
  ct[ct_len - 1] ^= 1;
  EXPECT(kh_aead_decrypt(aead, ct, ct_len, aad, sizeof aad, pt, sizeof pt, &pt_len) == KH_E_AUTH_FAILED &&
             pt_len == 0,
         "tampered ciphertext is refused");
  EXPECT(kh_keyset_info_get(aead, &info) == KH_OK && info.key_count == 2 && info.primary_key_id == new_id,
         "keyset info after rotation");

  {
    /* A stream with 64-byte segments: 100 bytes make two, sealed in one call. */
    uint8_t hdr[KH_STREAM_HEADER_LEN], body[100], sealed[100 + 2 * KH_STREAM_TAG_LEN], back[100];
    kh_handle enc = 0, dec = 0;
    size_t hl = 0, n = 0, m = 0;
    memset(body, 0x5a, sizeof body);
    EXPECT(kh_stream_encrypt_begin(aead, aad, sizeof aad, 64, hdr, sizeof hdr, &hl, &enc) == KH_OK &&
               hl == KH_STREAM_HEADER_LEN,
           "stream: begin encryption");
    EXPECT(kh_stream_seal(enc, 0, 1, body, sizeof body, sealed, sizeof sealed, &n) == KH_OK &&
               n == sizeof sealed,
           "stream: seal two segments in one call");
    EXPECT(kh_stream_decrypt_begin(aead, hdr, hl, aad, sizeof aad, &dec) == KH_OK,
           "stream: begin decryption");
    EXPECT(kh_stream_open(dec, 1, 1, sealed + 64 + KH_STREAM_TAG_LEN, n - 64 - KH_STREAM_TAG_LEN, back,
                          sizeof back, &m) == KH_OK &&
               m == 36 && memcmp(back, body + 64, 36) == 0,
           "stream: open the last segment alone (random access)");
    EXPECT(kh_stream_open(dec, 0, 1, sealed, 64 + KH_STREAM_TAG_LEN, back, sizeof back, &m) ==
                   KH_E_AUTH_FAILED &&
               m == 0,
           "stream: a stream cut after its first segment is refused");
    EXPECT(kh_handle_close(enc) == KH_OK && kh_handle_close(dec) == KH_OK, "stream: close both handles");
  }

  EXPECT(kh_keyset_generate(engine, KH_ALG_ED25519, 0, &signer) == KH_OK, "generate Ed25519 keyset");
  EXPECT(kh_sig_sign(signer, msg, sizeof msg, sig, sizeof sig, &sig_len) == KH_OK && sig_len == 70, "sign");
  EXPECT(kh_sig_verify(signer, msg, sizeof msg, sig, sig_len) == KH_OK, "verify");
  EXPECT(kh_sig_verify(signer, msg, sizeof msg - 1, sig, sig_len) == KH_E_AUTH_FAILED,
         "verify of another message fails");

  EXPECT(kh_keyset_generate(engine, KH_ALG_HMAC_SHA256, 0, &mac) == KH_OK, "generate HMAC-SHA256 keyset");
  EXPECT(kh_mac_compute(mac, msg, sizeof msg, tag, sizeof tag, &tag_len) == KH_OK && tag_len == 38, "MAC");
  EXPECT(kh_mac_verify(mac, msg, sizeof msg, tag, tag_len) == KH_OK, "MAC verify");

  memset(items, 0, sizeof items);
  items[0].keyset = aead;
  items[0].op = KH_OP_AEAD_ENCRYPT;
  items[0].in = msg;
  items[0].in_len = sizeof msg;
  items[0].out = ct2;
  items[0].out_cap = sizeof ct2;
  items[1].keyset = mac;
  items[1].op = KH_OP_MAC_VERIFY;
  items[1].in = msg;
  items[1].in_len = sizeof msg;
  items[1].in2 = tag;
  items[1].in2_len = tag_len;
  EXPECT(kh_batch(items, 2, &failed) == KH_OK && failed == 0 && items[0].status == KH_OK &&
             items[1].status == KH_OK && items[0].out_len == sizeof msg + 34,
         "batch of two operations in one call");

  EXPECT(kh_aead_encrypt(signer, msg, sizeof msg, NULL, 0, ct, sizeof ct, &ct_len) == KH_E_WRONG_PRIMITIVE,
         "AEAD on a signing keyset is refused");
  EXPECT(kh_aead_encrypt(aead, NULL, 5, NULL, 0, ct, sizeof ct, &ct_len) == KH_E_NULL_POINTER,
         "NULL input with a length is refused");
  EXPECT(kh_handle_close(aead) == KH_OK, "close keyset");
  EXPECT(kh_aead_encrypt(aead, msg, sizeof msg, NULL, 0, ct, sizeof ct, &ct_len) == KH_E_STALE_HANDLE,
         "closed handle is stale");
  EXPECT(kh_handle_close(aead) == KH_E_STALE_HANDLE, "second close is stale");
  EXPECT(kh_aead_encrypt(0x123456789abcdefULL, msg, 1, NULL, 0, ct, sizeof ct, &ct_len) == KH_E_STALE_HANDLE,
         "forged handle is stale");
  EXPECT(strcmp(kh_status_name(KH_E_AUTH_FAILED), "KH_E_AUTH_FAILED") == 0, "status names");
  EXPECT(kh_engine_close(engine) == KH_OK, "engine close closes its keysets");
  EXPECT(kh_mac_verify(mac, msg, sizeof msg, tag, tag_len) == KH_E_STALE_HANDLE,
         "children of a closed engine");

  printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
