/* keyhold.h -- the one public C ABI of the keyhold cryptography engine.
 *
 * Conventions (stated once here; a function's comment only documents
 * exceptions):
 *
 *  - Every fallible function returns a kh_status. KH_OK is 0; every other
 *    value is a failure. Numbers are stable and never reused.
 *  - Objects are opaque 64-bit handles (kh_handle). 0 is never a valid
 *    handle. A closed, stale, forged or zero handle gives KH_E_STALE_HANDLE;
 *    a handle of the wrong kind gives KH_E_WRONG_HANDLE_TYPE. Handles may be
 *    used from any thread; closing a handle while another thread uses it is
 *    safe (the object lives until the last in-flight call returns).
 *  - Parameter order: handle, inputs, outputs. Buffers are (ptr, len); a NULL
 *    pointer with length 0 is a valid empty buffer; a NULL pointer with a
 *    non-zero length is KH_E_NULL_POINTER.
 *  - Variable-size outputs are (out, out_cap, &out_len). If out_cap is too
 *    small the call returns KH_E_BUFFER_TOO_SMALL, leaves out untouched and
 *    stores the required length in *out_len. On any other failure *out_len is
 *    0 and every byte of out the call may have written is zeroed: no partial
 *    output, never unauthenticated plaintext.
 *  - No message or status carries data. All authentication failures (wrong
 *    tag, wrong key, tampered header) are KH_E_AUTH_FAILED.
 *  - No C++ exception, abort or OpenSSL error-queue state crosses this
 *    boundary.
 *  - Byte formats of every output are specified in docs/spec/.
 *  - Each enum ends with a *_MAX_ENUM_ = 0x7FFFFFFF member that is not a
 *    value: it makes the enum int-sized, so any value a caller passes is
 *    representable and is refused with a status rather than being undefined.
 *
 * This header is C99. */
#ifndef KEYHOLD_KEYHOLD_H
#define KEYHOLD_KEYHOLD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KH_EXPORT __attribute__((visibility("default")))
#define KH_NODISCARD __attribute__((warn_unused_result))
#else
#define KH_EXPORT
#define KH_NODISCARD
#endif

/* KH_ABI_VERSION is the major version of this ABI. Removing or changing a
 * symbol, a struct layout or the meaning of a number bumps it. Bindings
 * refuse a library whose kh_abi_version() differs from the value they were
 * built against. */
#define KH_ABI_VERSION 1

/* kh_status: the closed set of results. Stable numbers; never reused. */
typedef enum kh_status {
  KH_OK = 0,
  KH_E_INVALID_ARGUMENT = 1,       /* an argument is out of its documented range */
  KH_E_NULL_POINTER = 2,           /* NULL where a non-empty buffer or out-param is required */
  KH_E_BUFFER_TOO_SMALL = 3,       /* out_cap too small; *out_len holds the size needed */
  KH_E_STALE_HANDLE = 4,           /* closed, stale, forged or zero handle */
  KH_E_WRONG_HANDLE_TYPE = 5,      /* a live handle of another kind */
  KH_E_WRONG_PRIMITIVE = 6,        /* the keyset's algorithm does not offer this operation */
  KH_E_UNSUPPORTED = 7,            /* algorithm, format or option not supported */
  KH_E_AUTH_FAILED = 8,            /* authentication or signature verification failed */
  KH_E_MALFORMED = 9,              /* input is not a well-formed keyhold encoding */
  KH_E_UNKNOWN_KEY = 10,           /* no key with the id named by the input */
  KH_E_KEY_DISABLED = 11,          /* the key exists but is disabled */
  KH_E_KEY_DESTROYED = 12,         /* the key's material was destroyed */
  KH_E_TOO_LARGE = 13,             /* a length or count exceeds a documented limit */
  KH_E_LIMIT_EXCEEDED = 14,        /* the key's usage limit is reached; rotate */
  KH_E_POLICY_DENIED = 15,         /* refused by policy */
  KH_E_NOT_EXPORTABLE = 16,        /* the keyset does not allow this export */
  KH_E_SELF_TEST_FAILED = 17,      /* the power-on self-test failed; engine unusable */
  KH_E_OUT_OF_MEMORY = 18,         /* heap or guarded arena exhausted */
  KH_E_INTERNAL = 19,              /* a backend failed unexpectedly (a bug) */
  KH_E_ENGINE_CLOSED = 20,         /* the engine owning this object was closed */
  KH_E_IO = 21,                    /* a file could not be read, written or made durable */
  KH_E_INSECURE_FILE = 22,         /* a key file is open to group or others (chmod 600) */
  KH_E_KEK_UNAVAILABLE = 23,       /* the KEK cannot be reached: unset variable, absent token, wrong PIN */
  KH_E_NOT_FOUND = 24,             /* the named keyset file does not exist */
  KH_STATUS_MAX_ENUM_ = 0x7FFFFFFF /* not a status */
} kh_status;

/* kh_alg: algorithm identifiers. Stable numbers; they also appear in output
 * headers (docs/spec/formats.md). */
typedef enum kh_alg {
  KH_ALG_AES256_GCM = 1,
  KH_ALG_CHACHA20_POLY1305 = 2,
  KH_ALG_XCHACHA20_POLY1305 = 3,
  KH_ALG_AES256_SIV = 16, /* deterministic AEAD, RFC 5297, 64-byte key */
  KH_ALG_HMAC_SHA256 = 32,
  KH_ALG_HMAC_SHA512 = 33,
  KH_ALG_ED25519 = 48,
  KH_ALG_ECDSA_P256_SHA256_DER = 49,   /* signatures as DER ECDSA-Sig-Value */
  KH_ALG_ECDSA_P256_SHA256_P1363 = 50, /* signatures as fixed 64-byte r||s */
  KH_ALG_X25519 = 64,
  KH_ALG_HKDF_SHA256 = 80,
  KH_ALG_HKDF_SHA512 = 81,
  KH_ALG_MAX_ENUM_ = 0x7FFFFFFF /* not an algorithm: keeps any caller value in range */
} kh_alg;

/* kh_handle: an opaque object reference (slot + generation). 0 is invalid. */
typedef uint64_t kh_handle;

/* ---------------------------------------------------------------- library */

/* kh_abi_version returns KH_ABI_VERSION of the library as built. */
KH_EXPORT uint32_t kh_abi_version(void);

/* kh_version returns the library version as a static "MAJOR.MINOR.PATCH". */
KH_EXPORT const char* kh_version(void);

/* kh_status_name returns a static, data-free name such as "KH_E_AUTH_FAILED"
 * for any value; unknown values give "KH_E_UNKNOWN_STATUS". */
KH_EXPORT const char* kh_status_name(kh_status status);

/* kh_alg_name returns a static name such as "AES256_GCM", or NULL if alg is
 * unknown. */
KH_EXPORT const char* kh_alg_name(kh_alg alg);

/* kh_build_info returns a static JSON object describing this build: version,
 * ABI version, source revision, compiler and flags, and the versions of the
 * linked crypto libraries. It contains no secrets. */
KH_EXPORT const char* kh_build_info(void);

/* kh_runtime_info returns a static JSON object describing this process's
 * run: which backend computes AES-256-GCM and ChaCha20-Poly1305, and why.
 * Keys:
 *   "aes256_gcm_backend"           "ipsec-mb" or "openssl"
 *   "aes256_gcm_requested"         KEYHOLD_AESGCM_BACKEND: "auto", "openssl",
 *                                  "ipsec-mb" or "invalid"
 *   "ipsec_mb_arch"                intel-ipsec-mb manager type ("avx512",
 *                                  "avx2", "avx", "sse"; "" if not probed)
 *   "ipsec_mb_vaes"                true if it runs the VAES/AVX-512 code
 *   "ipsec_mb_version"             linked intel-ipsec-mb ("" if absent)
 *   "ipsec_mb_disabled_reason"     why AES-256-GCM does not use it ("" if
 *                                  it does)
 *   "chacha20_poly1305_backend"    "ipsec-mb" or "openssl"
 *   "chacha20_poly1305_requested"  KEYHOLD_CHACHA20_POLY1305_BACKEND
 *   "chacha20_poly1305_ipsec_mb_disabled_reason"
 *   "self_test"                    "passed" or "failed"
 * More keys may be added. Each backend is chosen once per process, at the
 * first kh_engine_open (or this call), from the CPU and the variable; the
 * power-on self-test falls back to OpenSSL for a primitive whose accelerated
 * backend disagrees with it. This call runs the self-test if it has not
 * run. It contains no secrets. */
KH_EXPORT const char* kh_runtime_info(void);

/* ------------------------------------------------------------------ sizes */

/* kh_alg_sizes: the sizes of one algorithm's encodings, so bindings ask the
 * library instead of copying numbers. A size that does not apply is 0. */
typedef struct kh_alg_sizes {
  uint32_t key_len;        /* secret key bytes as generated */
  uint32_t nonce_len;      /* AEAD nonce bytes */
  uint32_t tag_len;        /* AEAD/DAEAD/MAC tag bytes */
  uint32_t header_len;     /* keyhold output header (version, alg, key id) */
  uint32_t overhead;       /* ciphertext = plaintext + overhead (AEAD, DAEAD) */
  uint32_t max_output_len; /* MAC tag / signature with header; upper bound */
  uint32_t public_key_len; /* raw public key bytes (signatures, X25519) */
} kh_alg_sizes;

/* kh_alg_sizes_get fills *out for alg. KH_E_UNSUPPORTED if alg is unknown. */
KH_EXPORT KH_NODISCARD kh_status kh_alg_sizes_get(kh_alg alg, kh_alg_sizes* out);

/* KH_MAX_INPUT_LEN is the largest message, associated data or ciphertext
 * accepted by any single call (4 GiB); larger inputs give KH_E_TOO_LARGE.
 * Streams (a later ABI addition) carry larger data. */
#define KH_MAX_INPUT_LEN ((uint64_t)1 << 32)

/* ----------------------------------------------------------------- engine */

/* kh_engine_stats: counters with no secret content. */
typedef struct kh_engine_stats {
  uint64_t live_handles;        /* handles owned by this engine, excluding itself */
  uint64_t secure_bytes_used;   /* guarded-arena bytes holding key material */
  uint64_t secure_bytes_total;  /* guarded-arena bytes mapped (process-wide) */
  uint64_t secure_bytes_locked; /* of those, locked in RAM (mlock) */
  uint64_t mlock_failures;      /* arenas that could not be locked (RLIMIT_MEMLOCK) */
  uint32_t self_test_passed;    /* 1 if the power-on self-test passed */
  uint32_t reserved;
} kh_engine_stats;

/* kh_engine_open reads the configuration (KEYHOLD_* variables over the
 * optional TOML file named by KEYHOLD_CONFIG; docs/configuration.md), runs
 * the power-on self-test (once per process) and returns a new engine. If
 * the self-test failed it returns KH_E_SELF_TEST_FAILED and every later
 * operation in the process returns it too. A malformed value, an unknown
 * file key or algorithm name, or contradictory settings give
 * KH_E_INVALID_ARGUMENT (an unreadable KEYHOLD_CONFIG: KH_E_IO) and no
 * engine; kh_config_last_error then names the variable or key.
 * KEYHOLD_*_BACKEND=ipsec-mb when that backend is not in use (see
 * kh_runtime_info) gives KH_E_UNSUPPORTED. */
KH_EXPORT KH_NODISCARD kh_status kh_engine_open(kh_handle* out_engine);

/* kh_engine_close closes the engine and every handle it owns. Idempotent
 * in effect: a second close gives KH_E_STALE_HANDLE and changes nothing. */
KH_EXPORT kh_status kh_engine_close(kh_handle engine);

/* kh_engine_stats_get fills *out. */
KH_EXPORT KH_NODISCARD kh_status kh_engine_stats_get(kh_handle engine, kh_engine_stats* out);

/* Text outputs (configuration, metrics) follow the buffer convention: the
 * text is written without a terminating NUL and *out_len is its length;
 * with out_cap too small (out = NULL, out_cap = 0 asks) the call returns
 * KH_E_BUFFER_TOO_SMALL and *out_len is the length needed. Metrics change
 * between calls: leave room. None of these texts holds a secret. */

/* kh_config_last_error writes the message of the last configuration error
 * kh_engine_open met on the calling thread (empty if its last open had
 * none): one line naming the KEYHOLD_* variable or configuration-file key
 * at fault. */
KH_EXPORT KH_NODISCARD kh_status kh_config_last_error(char* out, size_t out_cap, size_t* out_len);

/* kh_engine_config_get writes the engine's effective configuration as JSON:
 * {"file": path or "", "settings": [{"key": "policy.enabled", "env":
 * "KEYHOLD_POLICY_ENABLED", "value": ..., "source": "default" | "file" |
 * "env"}, ...]} (docs/configuration.md). */
KH_EXPORT KH_NODISCARD kh_status kh_engine_config_get(kh_handle engine, char* out, size_t out_cap,
                                                      size_t* out_len);

/* Formats of kh_engine_metrics_get (docs/spec/metrics.md). */
typedef enum kh_metrics_format {
  KH_METRICS_JSON = 1,       /* the snapshot format, section 2 */
  KH_METRICS_PROMETHEUS = 2, /* Prometheus text exposition 0.0.4, section 3 */
  KH_METRICS_FORMAT_MAX_ENUM_ = 0x7FFFFFFF
} kh_metrics_format;

/* kh_engine_metrics_get writes a metrics snapshot: process-wide operation
 * counts by type and outcome, bytes in and out, sampled latency histograms
 * and policy refusals; this engine's live handles and per-key use counts
 * and usage headroom; guarded-memory gauges. Unknown format:
 * KH_E_INVALID_ARGUMENT. */
KH_EXPORT KH_NODISCARD kh_status kh_engine_metrics_get(kh_handle engine, uint32_t format, char* out,
                                                       size_t out_cap, size_t* out_len);

/* ---------------------------------------------------------------- keysets */

/* Keyset flags for kh_keyset_generate / kh_keyset_import_raw. */
#define KH_KEYSET_RAW                                                           \
  0x1u                            /* outputs carry no keyhold header (interop); \
                                     single key, no rotation */
#define KH_KEYSET_EXPORTABLE 0x2u /* may leave wrapped under another KEK */

/* kh_key_status: per-key state within a keyset. */
typedef enum kh_key_status {
  KH_KEY_ENABLED = 1,
  KH_KEY_DISABLED = 2,
  KH_KEY_DESTROYED = 3,
  KH_KEY_STATUS_MAX_ENUM_ = 0x7FFFFFFF /* not a status */
} kh_key_status;

/* kh_keyset_info: non-secret description of a keyset. */
typedef struct kh_keyset_info {
  uint32_t alg;   /* kh_alg */
  uint32_t flags; /* KH_KEYSET_* */
  uint32_t primary_key_id;
  uint32_t key_count; /* including disabled and destroyed keys */
} kh_keyset_info;

/* kh_key_info: non-secret description of one key. */
typedef struct kh_key_info {
  uint32_t key_id;
  uint32_t status;     /* kh_key_status */
  uint32_t is_primary; /* 1 or 0 */
  uint32_t reserved;
  uint64_t use_count; /* encryptions/signatures/MACs made with this key */
} kh_key_info;

/* kh_keyset_generate creates a keyset with one fresh random key (the
 * primary) of alg, owned by engine. flags: KH_KEYSET_*. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_generate(kh_handle engine, kh_alg alg, uint32_t flags,
                                                    kh_handle* out_keyset);

/* kh_keyset_import_raw creates a KH_KEYSET_RAW keyset from caller key bytes
 * (an AEAD, DAEAD, MAC or HKDF key; an Ed25519 32-byte seed; a P-256 32-byte
 * big-endian scalar; an X25519 32-byte private key). The caller's copy is
 * theirs to wipe. Raw keysets exist for interoperability and test vectors;
 * managed keysets come from kh_keyset_generate. AES-256-GCM accepts 32-byte
 * keys; AES-SIV accepts 32, 48 or 64 bytes; HMAC any length 1..1024. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_import_raw(kh_handle engine, kh_alg alg, const uint8_t* key,
                                                      size_t key_len, kh_handle* out_keyset);

/* kh_keyset_import_public creates a verify-only raw keyset from a public
 * key: Ed25519 as 32 raw bytes or SubjectPublicKeyInfo DER; P-256 as SEC1
 * uncompressed point (65 bytes) or SubjectPublicKeyInfo DER. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_import_public(kh_handle engine, kh_alg alg, const uint8_t* pub,
                                                         size_t pub_len, kh_handle* out_keyset);

/* kh_keyset_rotate adds a fresh key and makes it the primary. Older keys
 * stay enabled for decrypt/verify. KH_E_UNSUPPORTED for raw keysets. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_rotate(kh_handle keyset, uint32_t* out_new_key_id);

/* kh_keyset_set_primary makes an enabled key the primary. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_set_primary(kh_handle keyset, uint32_t key_id);

/* kh_keyset_disable, kh_keyset_enable: a disabled key is refused for every
 * operation (KH_E_KEY_DISABLED). The primary cannot be disabled
 * (KH_E_INVALID_ARGUMENT). */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_disable(kh_handle keyset, uint32_t key_id);
KH_EXPORT KH_NODISCARD kh_status kh_keyset_enable(kh_handle keyset, uint32_t key_id);

/* kh_keyset_destroy_key wipes a non-primary key's material; its id stays so
 * outputs made with it fail with KH_E_KEY_DESTROYED. Irreversible. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_destroy_key(kh_handle keyset, uint32_t key_id);

/* kh_keyset_info_get fills *out. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_info_get(kh_handle keyset, kh_keyset_info* out);

/* kh_keyset_key_info_get fills *out for the key at position index
 * (0 .. key_count-1, in creation order). */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_key_info_get(kh_handle keyset, uint32_t index, kh_key_info* out);

/* Public-key export formats. */
#define KH_PUBKEY_RAW 1 /* Ed25519/X25519: 32 bytes; P-256: 65-byte SEC1 uncompressed */
#define KH_PUBKEY_DER 2 /* SubjectPublicKeyInfo DER (signature algorithms) */

/* kh_keyset_public_key exports the public key of key_id (0 = the primary)
 * of a signature or X25519 keyset. KH_E_WRONG_PRIMITIVE for symmetric
 * keysets: secret keys never leave the engine in clear. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_public_key(kh_handle keyset, uint32_t key_id, uint32_t format,
                                                      uint8_t* out, size_t out_cap, size_t* out_len);

/* kh_handle_close closes any handle except an engine (use kh_engine_close).
 * A second close gives KH_E_STALE_HANDLE. */
KH_EXPORT kh_status kh_handle_close(kh_handle handle);

/* ------------------------------------------------------------------- AEAD */

/* kh_aead_encrypt encrypts with the primary key and a fresh random nonce.
 * Output: header || nonce || ciphertext || tag (raw keysets: nonce ||
 * ciphertext || tag). Length is pt_len + overhead (kh_alg_sizes). */
KH_EXPORT KH_NODISCARD kh_status kh_aead_encrypt(kh_handle keyset, const uint8_t* pt, size_t pt_len,
                                                 const uint8_t* aad, size_t aad_len, uint8_t* out,
                                                 size_t out_cap, size_t* out_len);

/* kh_aead_decrypt selects the key named in the header and decrypts. Bad
 * format: KH_E_MALFORMED; unknown key id: KH_E_UNKNOWN_KEY; tag mismatch:
 * KH_E_AUTH_FAILED. In place: out may overlap ct only when out starts
 * exactly where the ciphertext body starts (ct + header + nonce); any other
 * overlap, or out overlapping aad, is KH_E_INVALID_ARGUMENT. The same
 * body-aligned rule holds for every call with an input and an output. */
KH_EXPORT KH_NODISCARD kh_status kh_aead_decrypt(kh_handle keyset, const uint8_t* ct, size_t ct_len,
                                                 const uint8_t* aad, size_t aad_len, uint8_t* out,
                                                 size_t out_cap, size_t* out_len);

/* kh_aead_seal_nonce / kh_aead_open_nonce: raw keysets only (else
 * KH_E_WRONG_PRIMITIVE), caller-chosen nonce, output ciphertext || tag --
 * the shape of Go's cipher.AEAD. The caller owns nonce uniqueness. AES-GCM
 * accepts nonces of 1..128 bytes; ChaCha20-Poly1305 12; XChaCha20 24. */
KH_EXPORT KH_NODISCARD kh_status kh_aead_seal_nonce(kh_handle keyset, const uint8_t* nonce, size_t nonce_len,
                                                    const uint8_t* pt, size_t pt_len, const uint8_t* aad,
                                                    size_t aad_len, uint8_t* out, size_t out_cap,
                                                    size_t* out_len);
KH_EXPORT KH_NODISCARD kh_status kh_aead_open_nonce(kh_handle keyset, const uint8_t* nonce, size_t nonce_len,
                                                    const uint8_t* ct, size_t ct_len, const uint8_t* aad,
                                                    size_t aad_len, uint8_t* out, size_t out_cap,
                                                    size_t* out_len);

/* ------------------------------------------------------ streaming AEAD */

/* A stream encrypts data of any size as a header followed by segments
 * (docs/spec/stream.md): every segment but the last holds segment_size
 * plaintext bytes, each is sealed with a key derived for this stream alone
 * and a nonce naming its index and whether it is the last, so truncation,
 * reordering, duplication and splicing of segments or streams fail with
 * KH_E_AUTH_FAILED. AES-256-GCM, ChaCha20-Poly1305 and XChaCha20-Poly1305
 * keysets (managed or raw); others give KH_E_WRONG_PRIMITIVE.
 *
 * A stream handle is owned by the keyset's engine; close it with
 * kh_handle_close. It keeps its derived key until closed, whatever later
 * happens to the keyset. Calls carry the segment index explicitly, so a
 * caller (or a daemon transport) needs no state besides the handle. */

#define KH_STREAM_HEADER_LEN 49u                   /* stream header bytes */
#define KH_STREAM_TAG_LEN 16u                      /* bytes added to every segment */
#define KH_STREAM_SEGMENT_MIN 64u                  /* smallest segment_size */
#define KH_STREAM_SEGMENT_MAX (1u << 24)           /* largest segment_size (16 MiB) */
#define KH_STREAM_SEGMENT_DEFAULT (1u << 16)       /* segment_size 0 means this (64 KiB) */
#define KH_STREAM_MAX_SEGMENTS ((uint64_t)1 << 32) /* segment indices are 0 .. 2^32-1 */

/* kh_stream_info: non-secret description of a stream. */
typedef struct kh_stream_info {
  uint32_t alg;          /* kh_alg of the keyset */
  uint32_t key_id;       /* key named by the header (0 for a raw keyset) */
  uint32_t segment_size; /* plaintext bytes of every segment but the last */
  uint32_t header_len;   /* KH_STREAM_HEADER_LEN */
  uint32_t tag_len;      /* KH_STREAM_TAG_LEN */
  uint32_t encrypting;   /* 1: from kh_stream_encrypt_begin; 0: decrypt */
} kh_stream_info;

/* kh_stream_encrypt_begin starts a stream under the keyset's primary key
 * (counted as one use) and writes its KH_STREAM_HEADER_LEN-byte header to
 * header; the header goes first in the stream. segment_size: 0 for the
 * default, else KH_STREAM_SEGMENT_MIN .. KH_STREAM_SEGMENT_MAX (else
 * KH_E_INVALID_ARGUMENT). aad is authenticated with every segment. A too
 * small header buffer is KH_E_BUFFER_TOO_SMALL before any key use. */
KH_EXPORT KH_NODISCARD kh_status kh_stream_encrypt_begin(kh_handle keyset, const uint8_t* aad, size_t aad_len,
                                                         uint32_t segment_size, uint8_t* header,
                                                         size_t header_cap, size_t* header_len,
                                                         kh_handle* out_stream);

/* kh_stream_decrypt_begin parses a stream header (exactly
 * KH_STREAM_HEADER_LEN bytes) and returns a stream that opens its
 * segments. Header checks, in order: wrong length KH_E_MALFORMED; unknown
 * version KH_E_UNSUPPORTED; another algorithm or a segment size out of
 * range KH_E_MALFORMED; key id KH_E_UNKNOWN_KEY / KH_E_KEY_DISABLED /
 * KH_E_KEY_DESTROYED. A wrong key, aad or altered header byte otherwise
 * surfaces as KH_E_AUTH_FAILED from kh_stream_open. */
KH_EXPORT KH_NODISCARD kh_status kh_stream_decrypt_begin(kh_handle keyset, const uint8_t* header,
                                                         size_t header_len, const uint8_t* aad,
                                                         size_t aad_len, kh_handle* out_stream);

/* kh_stream_info_get fills *out. */
KH_EXPORT KH_NODISCARD kh_status kh_stream_info_get(kh_handle stream, kh_stream_info* out);

/* kh_stream_seal encrypts pt as one or more consecutive segments starting
 * at index first, in one crossing, writing their concatenation to out
 * (pt_len + KH_STREAM_TAG_LEN per segment). With last = 0, pt_len must be
 * a non-zero multiple of segment_size; with last = 1 the final segment
 * holds the remainder (1 .. segment_size bytes; 0 only for an empty stream
 * at first = 0) and ends the stream. first must be the index after the
 * previous call's segments (0 at the start): any other index, or a call
 * after the last segment, is KH_E_INVALID_ARGUMENT, so a segment nonce is
 * never used twice. Only on an encrypting stream. out must not overlap pt. */
KH_EXPORT KH_NODISCARD kh_status kh_stream_seal(kh_handle stream, uint64_t first, uint32_t last,
                                                const uint8_t* pt, size_t pt_len, uint8_t* out,
                                                size_t out_cap, size_t* out_len);

/* kh_stream_open authenticates and decrypts ct as one or more consecutive
 * segments starting at index first (any index, any order: random access),
 * writing the plaintext to out. With last = 0, ct_len must be a non-zero
 * multiple of segment_size + KH_STREAM_TAG_LEN (else
 * KH_E_INVALID_ARGUMENT); with last = 1 the final segment is the remainder
 * and must be the stream's last. Every failure of authentication -- an
 * altered, moved, duplicated, foreign or truncated segment, a final
 * segment shorter than a tag, a wrong key or aad -- is KH_E_AUTH_FAILED and
 * writes nothing (the whole call's output is zeroed). Only on a decrypting
 * stream. out must not overlap ct. */
KH_EXPORT KH_NODISCARD kh_status kh_stream_open(kh_handle stream, uint64_t first, uint32_t last,
                                                const uint8_t* ct, size_t ct_len, uint8_t* out,
                                                size_t out_cap, size_t* out_len);

/* ---------------------------------------------------- deterministic AEAD */

/* kh_daead_encrypt: AES-256-SIV; output header || SIV(16) || ciphertext
 * (raw keysets: SIV || ciphertext). Same inputs give the same output. */
KH_EXPORT KH_NODISCARD kh_status kh_daead_encrypt(kh_handle keyset, const uint8_t* pt, size_t pt_len,
                                                  const uint8_t* aad, size_t aad_len, uint8_t* out,
                                                  size_t out_cap, size_t* out_len);
KH_EXPORT KH_NODISCARD kh_status kh_daead_decrypt(kh_handle keyset, const uint8_t* ct, size_t ct_len,
                                                  const uint8_t* aad, size_t aad_len, uint8_t* out,
                                                  size_t out_cap, size_t* out_len);

/* -------------------------------------------------------------------- MAC */

/* kh_mac_compute: output header || tag (raw keysets: the bare tag). */
KH_EXPORT KH_NODISCARD kh_status kh_mac_compute(kh_handle keyset, const uint8_t* msg, size_t msg_len,
                                                uint8_t* out, size_t out_cap, size_t* out_len);

/* kh_mac_verify compares in constant time. Raw keysets accept a truncated
 * tag of at least 10 bytes (RFC 2104 section 5); managed keysets require the
 * full tag. Mismatch: KH_E_AUTH_FAILED. */
KH_EXPORT KH_NODISCARD kh_status kh_mac_verify(kh_handle keyset, const uint8_t* msg, size_t msg_len,
                                               const uint8_t* tag, size_t tag_len);

/* ------------------------------------------------------------- signatures */

/* kh_sig_sign signs msg with the primary key: output header || signature
 * over (header || msg) (raw keysets: the bare signature over msg). */
KH_EXPORT KH_NODISCARD kh_status kh_sig_sign(kh_handle keyset, const uint8_t* msg, size_t msg_len,
                                             uint8_t* out, size_t out_cap, size_t* out_len);

/* kh_sig_verify verifies an output of kh_sig_sign. */
KH_EXPORT KH_NODISCARD kh_status kh_sig_verify(kh_handle keyset, const uint8_t* msg, size_t msg_len,
                                               const uint8_t* sig, size_t sig_len);

/* kh_sig_sign_plain: a standard signature by the primary key with no header
 * (Ed25519 over msg; ECDSA over SHA-256(msg)) for X.509, TLS and JOSE. */
KH_EXPORT KH_NODISCARD kh_status kh_sig_sign_plain(kh_handle keyset, const uint8_t* msg, size_t msg_len,
                                                   uint8_t* out, size_t out_cap, size_t* out_len);

/* kh_sig_sign_digest: ECDSA only; signs a 32-byte SHA-256 digest (what Go's
 * crypto.Signer passes). */
KH_EXPORT KH_NODISCARD kh_status kh_sig_sign_digest(kh_handle keyset, const uint8_t* digest,
                                                    size_t digest_len, uint8_t* out, size_t out_cap,
                                                    size_t* out_len);

/* kh_sig_verify_plain verifies a standard signature with key_id (0 = the
 * primary). */
KH_EXPORT KH_NODISCARD kh_status kh_sig_verify_plain(kh_handle keyset, uint32_t key_id, const uint8_t* msg,
                                                     size_t msg_len, const uint8_t* sig, size_t sig_len);

/* -------------------------------------------------------- key agreement */

/* kh_kex_agree: X25519 of the primary private key with a 32-byte peer
 * public key; writes the 32-byte shared secret. An all-zero result (a
 * low-order peer key) is KH_E_INVALID_ARGUMENT. Feed the result to a KDF. */
KH_EXPORT KH_NODISCARD kh_status kh_kex_agree(kh_handle keyset, const uint8_t* peer, size_t peer_len,
                                              uint8_t* out, size_t out_cap, size_t* out_len);

/* -------------------------------------------------------------------- KDF */

/* kh_kdf_derive: HKDF (RFC 5869) with the primary key as input keying
 * material; writes exactly out_len bytes (1 .. 255 * hash length). */
KH_EXPORT KH_NODISCARD kh_status kh_kdf_derive(kh_handle keyset, const uint8_t* salt, size_t salt_len,
                                               const uint8_t* info, size_t info_len, uint8_t* out,
                                               size_t out_len);

/* ----------------------------------------------------------------- random */

/* kh_random_bytes fills out with len bytes from the CSPRNG (OpenSSL's DRBG,
 * seeded by the OS). len up to KH_MAX_INPUT_LEN. */
KH_EXPORT KH_NODISCARD kh_status kh_random_bytes(uint8_t* out, size_t len);

/* ------------------------------------------------------------------ batch */

/* Operations for kh_batch_item.op. */
typedef enum kh_op {
  KH_OP_AEAD_ENCRYPT = 1,      /* in = plaintext, in2 = aad */
  KH_OP_AEAD_DECRYPT = 2,      /* in = ciphertext, in2 = aad */
  KH_OP_DAEAD_ENCRYPT = 3,     /* in = plaintext, in2 = aad */
  KH_OP_DAEAD_DECRYPT = 4,     /* in = ciphertext, in2 = aad */
  KH_OP_MAC_COMPUTE = 5,       /* in = message */
  KH_OP_MAC_VERIFY = 6,        /* in = message, in2 = tag; no output */
  KH_OP_SIG_SIGN = 7,          /* in = message */
  KH_OP_SIG_VERIFY = 8,        /* in = message, in2 = signature; no output */
  KH_OP_AEAD_SEAL_NONCE = 9,   /* in = plaintext, in2 = aad, in3 = nonce */
  KH_OP_AEAD_OPEN_NONCE = 10,  /* in = ciphertext, in2 = aad, in3 = nonce */
  KH_OP_MAX_ENUM_ = 0x7FFFFFFF /* not an operation */
} kh_op;

/* kh_batch_item: one operation of a batch. Every (ptr, len) pair of an
 * item follows the buffer rule (NULL with a non-zero length is
 * KH_E_NULL_POINTER), including in2/in3 of operations that do not use them.
 * The caller owns every buffer;
 * the engine reads in/in2/in3 and writes out in place (no copies). status
 * and out_len are outputs, with the same meaning as for the single call. */
typedef struct kh_batch_item {
  kh_handle keyset;
  uint32_t op;     /* kh_op */
  uint32_t status; /* out: kh_status of this item */
  const uint8_t* in;
  size_t in_len;
  const uint8_t* in2;
  size_t in2_len;
  const uint8_t* in3;
  size_t in3_len;
  uint8_t* out;
  size_t out_cap;
  size_t out_len; /* out */
} kh_batch_item;

/* KH_MAX_BATCH is the largest item count of one kh_batch call. */
#define KH_MAX_BATCH 4096

/* kh_batch runs count items in one crossing, in order, each independently.
 * Returns KH_OK when every item ran (each item's own status says how it
 * went; KH_OK overall does not mean every item succeeded), KH_E_TOO_LARGE
 * if count > KH_MAX_BATCH, KH_E_NULL_POINTER if items is NULL with count >
 * 0. *out_failed (may be NULL) receives the number of items whose status is
 * not KH_OK. */
KH_EXPORT KH_NODISCARD kh_status kh_batch(kh_batch_item* items, size_t count, size_t* out_failed);

/* ------------------------------------------ key-encryption keys, storage */

/* Keysets are stored only encrypted under a key-encryption key (KEK), in
 * the versioned format of docs/spec/keyset.md: non-secret metadata readable
 * without the KEK and bound to the ciphertext, the key material encrypted
 * under a fresh data key that the KEK wraps. KEK material never leaves the
 * engine: file and environment keys are read by the engine itself into
 * guarded memory; a PKCS#11 key never leaves its token.
 *
 * Key files (keyset files and file KEKs) are created 0600; one that grants
 * any permission to group or others is refused with KH_E_INSECURE_FILE.
 * Paths and specs are (ptr, len) byte strings, not NUL-terminated; an
 * embedded NUL is KH_E_INVALID_ARGUMENT. */

/* kh_kek_kind: where a KEK lives. */
typedef enum kh_kek_kind {
  KH_KEK_FILE = 1,                   /* a 0600 file holding 64 hex digits, read by the engine */
  KH_KEK_ENV = 2,                    /* 64 hex digits in an environment variable (weakest) */
  KH_KEK_PKCS11 = 3,                 /* a non-extractable AES-256 key inside a PKCS#11 token */
  KH_KEK_KIND_MAX_ENUM_ = 0x7FFFFFFF /* not a kind */
} kh_kek_kind;

/* kh_kek_open opens the KEK named by spec and returns a KEK handle owned by
 * engine (close it with kh_handle_close; kh_engine_close closes it too).
 * spec is one of:
 *   "file:PATH"   a file of 64 hex digits (a newline may follow). If PATH
 *                 does not exist it is created with a fresh random key,
 *                 mode 0600 (its directory must exist).
 *   "env:NAME"    64 hex digits in environment variable NAME. Anything
 *                 that can read the process environment can read it: the
 *                 weakest option, for containers whose secret store
 *                 injects variables.
 *   "pkcs11:module=PATH;token=LABEL;pin-env=NAME;key=LABEL"
 *                 the AES-256 secret key labelled key in the token labelled
 *                 token of the PKCS#11 module at absolute PATH (dlopen'ed),
 *                 logged in with the user PIN in variable pin-env (omit
 *                 pin-env for a token without login). The key is created
 *                 if missing (CKA_SENSITIVE true, CKA_EXTRACTABLE false);
 *                 the token itself wraps and unwraps data keys
 *                 (CKM_AES_GCM). An existing extractable or non-sensitive
 *                 key is refused with KH_E_POLICY_DENIED.
 *   "default"     $KEYHOLD_KEK if set and non-empty, else
 *                 "file:$KEYHOLD_HOME/master.key", KEYHOLD_HOME defaulting
 *                 to $HOME/.keyhold (created 0700 if missing).
 * A malformed spec or key is KH_E_INVALID_ARGUMENT; an unset variable, an
 * absent token or a wrong PIN is KH_E_KEK_UNAVAILABLE; an unreadable file
 * is KH_E_IO. */
KH_EXPORT KH_NODISCARD kh_status kh_kek_open(kh_handle engine, const char* spec, size_t spec_len,
                                             kh_handle* out_kek);

/* kh_kek_kind_get stores the kh_kek_kind of kek in *out_kind. */
KH_EXPORT KH_NODISCARD kh_status kh_kek_kind_get(kh_handle kek, uint32_t* out_kind);

/* kh_keyset_save_file writes keyset, encrypted under kek, to path:
 * atomically and durably (a temporary file in the same directory, fsync,
 * rename, fsync of the directory), mode 0600. A crash leaves either the old
 * file or the new one. The first save or load binds the keyset to its KEK;
 * saving under another KEK is an export: KH_E_NOT_EXPORTABLE unless the
 * keyset is KH_KEYSET_EXPORTABLE. Saving also makes path the keyset's home:
 * use counts are persisted there ahead of use (docs/decisions/0012). Raw
 * keysets cannot be stored (KH_E_UNSUPPORTED). I/O failures: KH_E_IO. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_save_file(kh_handle keyset, kh_handle kek, const char* path,
                                                     size_t path_len);

/* kh_keyset_load_file reads the keyset file at path, decrypts it with kek
 * and returns a new keyset owned by engine, bound to kek and to path.
 * Missing file: KH_E_NOT_FOUND; a wrong KEK or any altered byte that
 * survives the format checks: KH_E_AUTH_FAILED; a truncated or malformed
 * file: KH_E_MALFORMED; another format version: KH_E_UNSUPPORTED
 * (docs/spec/keyset.md section 6). */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_load_file(kh_handle engine, kh_handle kek, const char* path,
                                                     size_t path_len, kh_handle* out_keyset);

/* kh_keyset_file_info: the non-secret metadata of a keyset file. */
typedef struct kh_keyset_file_info {
  uint32_t version;  /* format version (1) */
  uint32_t alg;      /* kh_alg */
  uint32_t flags;    /* KH_KEYSET_* */
  uint32_t kek_kind; /* kh_kek_kind of the KEK that wrote the file */
  uint32_t primary_key_id;
  uint32_t key_count;
  uint8_t keyset_id[16]; /* random, fixed when the keyset was generated */
} kh_keyset_file_info;

/* kh_key_file_info: the non-secret metadata of one key in a keyset file. */
typedef struct kh_key_file_info {
  uint32_t key_id;
  uint32_t status;    /* kh_key_status */
  uint64_t created;   /* seconds since 1970-01-01T00:00:00Z */
  uint64_t use_count; /* at least the uses made before the file was written */
} kh_key_file_info;

/* kh_keyset_file_info_get reads the metadata of the keyset file at path
 * without a KEK or an engine: *out, and one kh_key_file_info per key (in
 * creation order) into keys[0 .. keys_cap). If keys_cap is below the key
 * count it returns KH_E_BUFFER_TOO_SMALL with the count in *out_keys_len
 * (keys = NULL, keys_cap = 0 asks for it). The metadata is authenticated
 * only when the keyset is loaded: a reader of this call trusts the file.
 * Errors as kh_keyset_load_file, without the KEK's. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_file_info_get(const char* path, size_t path_len,
                                                         kh_keyset_file_info* out, kh_key_file_info* keys,
                                                         size_t keys_cap, size_t* out_keys_len);

/* kh_keyset_export_wrapped writes keyset encrypted under kek, in the keyset
 * file format, to out: for another engine or service holding that KEK.
 * KH_E_NOT_EXPORTABLE unless the keyset was generated KH_KEYSET_EXPORTABLE
 * (the flag travels with it). The size is known without encrypting (out =
 * NULL, out_cap = 0 asks for it). Raw keysets: KH_E_UNSUPPORTED. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_export_wrapped(kh_handle keyset, kh_handle kek, uint8_t* out,
                                                          size_t out_cap, size_t* out_len);

/* kh_keyset_import_wrapped decrypts an export of kh_keyset_export_wrapped
 * (or the bytes of a keyset file) with kek and returns a new keyset owned
 * by engine, bound to kek, with no home file until it is saved. Errors as
 * kh_keyset_load_file. */
KH_EXPORT KH_NODISCARD kh_status kh_keyset_import_wrapped(kh_handle engine, kh_handle kek,
                                                          const uint8_t* blob, size_t blob_len,
                                                          kh_handle* out_keyset);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KEYHOLD_KEYHOLD_H */
