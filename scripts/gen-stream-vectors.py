#!/usr/bin/env python3
"""Generate testdata/golden/stream_v1.json: golden vectors for the keyhold
streaming AEAD, format 1 (docs/spec/stream.md), built independently of
keyhold's own code with pyca/cryptography, so that the spec, not the
implementation, defines the bytes.

Once committed, a vector is never changed: the tests that read it
(tests/stream_golden_test.cc, go/stream_golden_test.go) guard format
compatibility forever. Re-running this script reproduces the file byte for
byte (every input is fixed). Requires: pip install cryptography
"""
import hashlib
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALG = {"AES256_GCM": 1, "CHACHA20_POLY1305": 2, "XCHACHA20_POLY1305": 3}
VERSION = 0x81
TAG = 16
LABEL = b"keyhold stream v1"


def det(label, n):
    """n deterministic bytes from a label (test inputs only, not secrets)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"keyhold stream golden {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def encrypt(alg, key, key_id, seg, salt, prefix, aad, pt):
    """docs/spec/stream.md sections 2-4, written from the spec."""
    header = struct.pack(">BBII", VERSION, ALG[alg], key_id, seg) + salt + prefix
    info = LABEL + header[:10] + hashlib.sha256(aad).digest()
    stream_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)
    cipher = AESGCM(stream_key) if alg == "AES256_GCM" else ChaCha20Poly1305(stream_key)
    chunks = [pt[i:i + seg] for i in range(0, len(pt), seg)] or [b""]
    out = header
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        nonce = prefix + struct.pack(">IB", i, 1 if last else 0)
        out += cipher.encrypt(nonce, chunk, None)
    return out


def main():
    vectors = []
    cases = [
        # name, segment size, plaintext length, aad
        ("empty", 64, 0, b""),
        ("one-short", 64, 10, b"aad"),
        ("one-full", 64, 64, b""),
        ("two", 64, 65, b"ctx:backup/42"),
        ("many", 100, 1000, det("aad", 40)),
    ]
    # The default segment size (64 KiB), across a segment boundary: once,
    # to keep the file small.
    big = ("default-size", 65536, 65540, b"file:report.pdf")
    for alg in ALG:
        for raw in (False, True):
            key_id = 0 if raw else 0x0A0B0C0D
            key = det(alg + "key", 32)
            for name, seg, n, aad in cases + ([big] if alg == "AES256_GCM" and raw else []):
                label = f"{alg} {name} {'raw' if raw else 'managed'}"
                salt, prefix, pt = det(label + " salt", 32), det(label + " prefix", 7), det(label + " pt", n)
                ct = encrypt(alg, key, key_id, seg, salt, prefix, aad, pt)
                vectors.append({
                    "alg": alg, "name": name, "raw": raw, "key": key.hex(), "key_id": key_id,
                    "segment_size": seg, "salt": salt.hex(), "nonce_prefix": prefix.hex(),
                    "aad": aad.hex(), "plaintext": pt.hex(), "stream": ct.hex(),
                })
    doc = {
        "format": "keyhold streaming AEAD, format 1 (docs/spec/stream.md)",
        "generator": "scripts/gen-stream-vectors.py (pyca/cryptography)",
        "vectors": vectors,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
