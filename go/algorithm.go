package keyhold

import "strconv"

// Algorithm identifies a keyset's algorithm (kh_alg). The numbers are stable
// and appear in keyhold output headers.
type Algorithm uint32

// The supported algorithms.
const (
	AES256GCM         Algorithm = 1  // AEAD
	ChaCha20Poly1305  Algorithm = 2  // AEAD
	XChaCha20Poly1305 Algorithm = 3  // AEAD, 24-byte nonces
	AES256SIV         Algorithm = 16 // deterministic AEAD (RFC 5297)
	HMACSHA256        Algorithm = 32 // MAC
	HMACSHA512        Algorithm = 33 // MAC
	Ed25519           Algorithm = 48 // signature
	// ECDSAP256 signs with ECDSA over P-256 and SHA-256; keyhold-format and
	// plain signatures are DER ECDSA-Sig-Value.
	ECDSAP256 Algorithm = 49
	// ECDSAP256P1363 is ECDSAP256 with fixed 64-byte r||s signatures
	// (IEEE P1363, as in JOSE). Its crypto.Signer still returns DER, which
	// crypto.Signer requires.
	ECDSAP256P1363 Algorithm = 50
	X25519         Algorithm = 64 // key agreement
	HKDFSHA256     Algorithm = 80 // key derivation
	HKDFSHA512     Algorithm = 81 // key derivation
)

// Primitive is the family of operations an algorithm offers.
type Primitive int

// The primitives.
const (
	PrimitiveUnknown Primitive = iota
	PrimitiveAEAD
	PrimitiveDAEAD
	PrimitiveMAC
	PrimitiveSignature
	PrimitiveKeyAgreement
	PrimitiveKDF
)

var primitiveNames = [...]string{"unknown", "aead", "daead", "mac", "signature", "key agreement", "kdf"}

func (p Primitive) String() string {
	if p >= 0 && int(p) < len(primitiveNames) {
		return primitiveNames[p]
	}
	return "unknown"
}

var algorithms = []Algorithm{
	AES256GCM, ChaCha20Poly1305, XChaCha20Poly1305, AES256SIV, HMACSHA256, HMACSHA512,
	Ed25519, ECDSAP256, ECDSAP256P1363, X25519, HKDFSHA256, HKDFSHA512,
}

// Primitive returns the family of a.
func (a Algorithm) Primitive() Primitive {
	switch a {
	case AES256GCM, ChaCha20Poly1305, XChaCha20Poly1305:
		return PrimitiveAEAD
	case AES256SIV:
		return PrimitiveDAEAD
	case HMACSHA256, HMACSHA512:
		return PrimitiveMAC
	case Ed25519, ECDSAP256, ECDSAP256P1363:
		return PrimitiveSignature
	case X25519:
		return PrimitiveKeyAgreement
	case HKDFSHA256, HKDFSHA512:
		return PrimitiveKDF
	}
	return PrimitiveUnknown
}

// String returns the engine's name for a (kh_alg_name), such as
// "AES256_GCM".
func (a Algorithm) String() string {
	switch a {
	case AES256GCM:
		return "AES256_GCM"
	case ChaCha20Poly1305:
		return "CHACHA20_POLY1305"
	case XChaCha20Poly1305:
		return "XCHACHA20_POLY1305"
	case AES256SIV:
		return "AES256_SIV"
	case HMACSHA256:
		return "HMAC_SHA256"
	case HMACSHA512:
		return "HMAC_SHA512"
	case Ed25519:
		return "ED25519"
	case ECDSAP256:
		return "ECDSA_P256_SHA256_DER"
	case ECDSAP256P1363:
		return "ECDSA_P256_SHA256_P1363"
	case X25519:
		return "X25519"
	case HKDFSHA256:
		return "HKDF_SHA256"
	case HKDFSHA512:
		return "HKDF_SHA512"
	}
	return "Algorithm(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// Sizes are the byte sizes of one algorithm's encodings, as reported by the
// engine (kh_alg_sizes). A size that does not apply is 0.
type Sizes struct {
	KeyLen       int // secret key bytes as generated
	NonceLen     int // AEAD nonce bytes
	TagLen       int // AEAD, DAEAD or MAC tag bytes
	HeaderLen    int // keyhold output header (version, algorithm, key id)
	Overhead     int // managed-keyset ciphertext = plaintext + Overhead
	MaxOutputLen int // upper bound of a MAC tag or signature with header
	PublicKeyLen int // raw public key bytes
}
