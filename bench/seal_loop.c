/* seal_loop: N 64-byte AES-256-GCM seals through the C ABI, for counting
 * instructions per seal under valgrind (scripts/metrics-overhead): the
 * difference between two N gives the per-seal cost without start-up. */
#include <keyhold/keyhold.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  const long n = argc > 1 ? atol(argv[1]) : 1000;
  kh_handle e = 0, ks = 0;
  if (kh_engine_open(&e) != KH_OK || kh_keyset_generate(e, KH_ALG_AES256_GCM, 0, &ks) != KH_OK) {
    fprintf(stderr, "seal_loop: cannot open the engine\n");
    return 1;
  }
  uint8_t pt[64] = {0}, out[128];
  size_t out_len = 0;
  for (long i = 0; i < n; ++i) {
    if (kh_aead_encrypt(ks, pt, sizeof pt, NULL, 0, out, sizeof out, &out_len) != KH_OK) return 1;
  }
  (void)kh_engine_close(e);
  return 0;
}
