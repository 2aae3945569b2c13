#!/usr/bin/env python3
"""Generate testdata/golden/formats_v1.json: golden vectors for every keyhold
output format of version 1 (docs/spec/formats.md), built independently of
keyhold's own code with pyca/cryptography and PyNaCl (a separate libsodium)
so that the spec, not the implementation, defines the bytes.

Once committed, a vector is never changed: the tests that read it guard
format compatibility forever. Re-running this script must reproduce the file
byte for byte (all inputs are fixed; ECDSA uses RFC 6979 deterministic
signing). Requires: pip install cryptography pynacl
"""
import hashlib
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV, ChaCha20Poly1305
import nacl.bindings as sodium

ALG = {
    "AES256_GCM": 1, "CHACHA20_POLY1305": 2, "XCHACHA20_POLY1305": 3, "AES256_SIV": 16,
    "HMAC_SHA256": 32, "HMAC_SHA512": 33, "ED25519": 48,
    "ECDSA_P256_SHA256_DER": 49, "ECDSA_P256_SHA256_P1363": 50,
}


def det(label, n):
    """n deterministic bytes from a label (test inputs only, not secrets)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"keyhold golden {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def header(alg, key_id):
    return struct.pack(">BBI", 1, ALG[alg], key_id)


def aead(alg, key, nonce, aad, pt):
    if alg == "AES256_GCM":
        return AESGCM(key).encrypt(nonce, pt, aad)
    if alg == "CHACHA20_POLY1305":
        return ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, nonce, key)


def main():
    vectors = []
    cases = [("empty", b"", b""), ("short", b"hello, keyhold", b"aad"), ("block", det("pt", 100), det("aad", 33))]
    for alg, nlen in [("AES256_GCM", 12), ("CHACHA20_POLY1305", 12), ("XCHACHA20_POLY1305", 24)]:
        for name, pt, aad in cases:
            key, key_id, nonce = det(alg + "key", 32), 0x01020304, det(alg + name + "nonce", nlen)
            h = header(alg, key_id)
            ct = h + nonce + aead(alg, key, nonce, h + aad, pt)
            vectors.append({"kind": "aead", "alg": alg, "name": name, "key": key.hex(), "key_id": key_id,
                            "msg": pt.hex(), "aad": aad.hex(), "output": ct.hex(), "deterministic": False})
    for name, pt, aad in cases:
        key, key_id = det("sivkey", 64), 0xA1B2C3D4
        h = header("AES256_SIV", key_id)
        ct = h + AESSIV(key).encrypt(pt, [h, aad])
        vectors.append({"kind": "daead", "alg": "AES256_SIV", "name": name, "key": key.hex(), "key_id": key_id,
                        "msg": pt.hex(), "aad": aad.hex(), "output": ct.hex(), "deterministic": True})
    for alg, hlen, hh in [("HMAC_SHA256", 32, hashes.SHA256()), ("HMAC_SHA512", 64, hashes.SHA512())]:
        for name, msg, _ in cases:
            key, key_id = det(alg + "key", hlen), 0x7FFFFFFF
            h = header(alg, key_id)
            m = hmac.HMAC(key, hh)
            m.update(h + msg)
            vectors.append({"kind": "mac", "alg": alg, "name": name, "key": key.hex(), "key_id": key_id,
                            "msg": msg.hex(), "aad": "", "output": (h + m.finalize()).hex(), "deterministic": True})
    for name, msg, _ in cases:
        seed, key_id = det("ed25519seed", 32), 0xFFFFFFFF
        h = header("ED25519", key_id)
        sig = ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(h + msg)
        vectors.append({"kind": "sig", "alg": "ED25519", "name": name, "key": seed.hex(), "key_id": key_id,
                        "msg": msg.hex(), "aad": "", "output": (h + sig).hex(), "deterministic": True})
    for alg in ["ECDSA_P256_SHA256_DER", "ECDSA_P256_SHA256_P1363"]:
        for name, msg, _ in cases:
            scalar = int.from_bytes(det("p256scalar", 32), "big") % (2**255)  # below the group order
            priv = ec.derive_private_key(scalar, ec.SECP256R1())
            key_id = 0x00000001
            h = header(alg, key_id)
            der = priv.sign(h + msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            if alg.endswith("P1363"):
                r, s = decode_dss_signature(der)
                sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
            else:
                sig = der
            vectors.append({"kind": "sig", "alg": alg, "name": name, "key": scalar.to_bytes(32, "big").hex(),
                            "key_id": key_id, "msg": msg.hex(), "aad": "", "output": (h + sig).hex(),
                            "deterministic": True})
    doc = {
        "format_version": 1,
        "spec": "docs/spec/formats.md",
        "generator": "scripts/gen-golden-vectors.py (pyca/cryptography + PyNaCl)",
        "note": "Never edit or remove a vector: old outputs must stay decodable forever.",
        "vectors": vectors,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
