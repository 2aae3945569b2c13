// Package keyhold is the Go API of the keyhold cryptography engine.
//
// Keys are generated and held inside the engine (a C++ library over
// OpenSSL 3 and libsodium, linked into the binary); Go code holds opaque
// handles and never sees secret key material. An Engine owns Keysets; a
// Keyset is a primary key plus older keys of one Algorithm, and offers one
// primitive:
//
//	AEAD          AES256GCM, ChaCha20Poly1305, XChaCha20Poly1305   Keyset.AEAD, NewCipherAEAD
//	DAEAD         AES256SIV                                         Keyset.DAEAD
//	MAC           HMACSHA256, HMACSHA512                            Keyset.MAC
//	Signature     Ed25519, ECDSAP256, ECDSAP256P1363                Keyset.Signer, Keyset.Verifier
//	KeyAgreement  X25519                                            Keyset.KeyAgreement
//	KDF           HKDFSHA256, HKDFSHA512                            Keyset.KDF
//
// Managed keysets (Engine.NewKeyset) prefix every output with a small
// authenticated header naming the key, so Rotate never breaks old data.
// Raw keysets (Raw, Engine.ImportRawKey, Engine.ImportPublicKey) produce
// standard outputs for interoperability: NewCipherAEAD is a cipher.AEAD
// byte-compatible with Go's AES-GCM and x/crypto's ChaCha20-Poly1305, and
// Signer is a crypto.Signer for crypto/tls and crypto/x509.
//
// # Concurrency and lifetime
//
// Every type is safe for concurrent use. Close an Engine or a Keyset when
// done; Close is idempotent. Using a closed object returns an error
// matching ErrClosed, never a crash, even when the Close races with the
// call. A garbage-collector cleanup closes forgotten objects as a safety
// net only.
//
// # Errors
//
// Every failure is an *Error holding the operation and the engine's Status
// code and nothing else: no key bytes, plaintext or lengths of secrets.
// Match with errors.Is against the sentinels (ErrAuthFailed, ErrMalformed,
// ErrUnknownKey, ErrKeyDisabled, ErrClosed, ...). All authentication
// failures are the single ErrAuthFailed.
//
// # Performance
//
// One operation is one call into the engine; Seal and Open append into the
// caller's buffer without allocating, and Go slices are passed to the
// engine without copies. Engine.Batch carries many operations in one call.
//
// # Deployment modes
//
// This version runs the engine in-process. The public types call an
// internal backend interface, so a daemon client (KEYHOLD_ENDPOINT, see
// EnvEndpoint) can be added without changing service code.
package keyhold
