#!/usr/bin/env python3
"""Generate testdata/golden/keyset_v1.json: golden keyset files of version 1
(docs/spec/keyset.md), built independently of keyhold's code with
pyca/cryptography and PyNaCl, so that the spec, not the implementation,
defines the bytes.

Each vector is a whole keyset file, the KEK that opens it, the metadata it
must report, and a check made with its primary key by this script (a
ciphertext to decrypt, a tag or signature to verify or reproduce, a public
key, a KDF output). The "invalid" vectors are well-encrypted files that
break one rule of the decoder (section 6) and the status it must give.

Once committed, a vector is never changed or removed: keyset files must
stay decodable forever. All inputs are fixed, so re-running this script
reproduces the file byte for byte. Requires: pip install cryptography pynacl
"""
import hashlib
import hmac as std_hmac
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import nacl.bindings as sodium

ALG = {
    "AES256_GCM": 1, "CHACHA20_POLY1305": 2, "XCHACHA20_POLY1305": 3, "AES256_SIV": 16,
    "HMAC_SHA256": 32, "HMAC_SHA512": 33, "ED25519": 48,
    "ECDSA_P256_SHA256_DER": 49, "ECDSA_P256_SHA256_P1363": 50, "X25519": 64,
    "HKDF_SHA256": 80, "HKDF_SHA512": 81,
}
KEY_LEN = {"AES256_SIV": 64, "HMAC_SHA512": 64, "HKDF_SHA512": 64}
STATUS = {"enabled": 1, "disabled": 2, "destroyed": 3}
KEK_KIND = {"file": 1, "env": 2, "pkcs11": 3}
EXPORTABLE = 0x2
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def det(label, n):
    """n deterministic bytes from a label (test inputs only, not secrets)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"keyhold keyset golden {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def key_material(alg, label):
    if alg.startswith("ECDSA"):
        # A valid P-256 scalar: 1 .. n-1.
        return ((int.from_bytes(det(label, 32), "big") % (P256_ORDER - 1)) + 1).to_bytes(32, "big")
    return det(label, KEY_LEN.get(alg, 32))


def hkdf_sha256(ikm, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(ikm)


def encode(v, kek, *, version=1, wrap_method=1, trailing=b"", aad_override=None):
    """Section 2 of docs/spec/keyset.md: the whole file."""
    meta = bytes.fromhex(v["keyset_id"])
    meta += struct.pack(">IIBIH", ALG[v["alg"]], v["flags"], KEK_KIND[v["kek_kind"]], v["primary"], len(v["keys"]))
    secrets = b""
    for k in v["keys"]:
        material = bytes.fromhex(k["material"])
        meta += struct.pack(">IBHQQ", k["id"], STATUS[k["status"]], len(material), k["created"], k["use_count"])
        secrets += material
    header = b"KHKS" + bytes([version]) + struct.pack(">I", len(meta))
    aad = header + meta if aad_override is None else aad_override
    name = v["name"]
    data_key = det(name + " data key", 32)
    # Section 5.1: the wrapping key and nonce.
    wrap_key = hkdf_sha256(kek, b"keyhold keyset v1 kek wrap", 32)
    wrap_nonce = det(name + " wrap nonce", 12)
    wrap = bytes([wrap_method]) + wrap_nonce + AESGCM(wrap_key).encrypt(wrap_nonce, data_key, aad)
    nonce = det(name + " secrets nonce", 12)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, secrets, aad)
    return header + meta + struct.pack(">H", len(wrap)) + wrap + struct.pack(">I", len(sealed)) + sealed + trailing


def out_header(alg, key_id):
    return struct.pack(">BBI", 1, ALG[alg], key_id)


def check_for(v):
    """An output of the primary key (docs/spec/formats.md) for the tests to check."""
    alg = v["alg"]
    key = next(bytes.fromhex(k["material"]) for k in v["keys"] if k["id"] == v["primary"])
    msg, aad = det(v["name"] + " msg", 37), det(v["name"] + " aad", 11)
    h = out_header(alg, v["primary"])
    c = {"msg": msg.hex(), "aad": aad.hex()}
    if alg in ("AES256_GCM", "CHACHA20_POLY1305", "XCHACHA20_POLY1305"):
        nonce = det(v["name"] + " nonce", 24 if alg.startswith("X") else 12)
        if alg == "AES256_GCM":
            body = AESGCM(key).encrypt(nonce, msg, h + aad)
        elif alg == "CHACHA20_POLY1305":
            body = ChaCha20Poly1305(key).encrypt(nonce, msg, h + aad)
        else:
            body = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, h + aad, nonce, key)
        c.update(kind="aead_decrypt", output=(h + nonce + body).hex())
    elif alg == "AES256_SIV":
        c.update(kind="daead_encrypt", output=(h + AESSIV(key).encrypt(msg, [h, aad])).hex())
    elif alg.startswith("HMAC"):
        digest = hashlib.sha256 if alg == "HMAC_SHA256" else hashlib.sha512
        c.update(kind="mac_compute", output=(h + std_hmac.new(key, h + msg, digest).digest()).hex())
    elif alg == "ED25519":
        sig = ed25519.Ed25519PrivateKey.from_private_bytes(key).sign(h + msg)
        c.update(kind="sig_sign", output=(h + sig).hex())
    elif alg.startswith("ECDSA"):
        priv = ec.derive_private_key(int.from_bytes(key, "big"), ec.SECP256R1())
        der = priv.sign(h + msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        if alg.endswith("P1363"):
            r, s = decode_dss_signature(der)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            sig = der
        c.update(kind="sig_verify", output=(h + sig).hex())
    elif alg == "X25519":
        pub = x25519.X25519PrivateKey.from_private_bytes(key).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        c.update(kind="public_key", msg="", aad="", output=pub.hex())
    else:
        h_alg = hashes.SHA256() if alg == "HKDF_SHA256" else hashes.SHA512()
        out = HKDF(algorithm=h_alg, length=42, salt=aad, info=msg).derive(key)
        c.update(kind="kdf_derive", output=out.hex())
    return c


def vector(name, alg, kek_kind, keys, primary, flags=0):
    """keys: (id, status, created, use_count) in creation order."""
    v = {"name": name, "alg": alg, "kek_kind": kek_kind, "flags": flags, "primary": primary,
         "keyset_id": det(name + " keyset id", 16).hex(), "keys": []}
    for i, (key_id, status, created, uses) in enumerate(keys):
        material = b"" if status == "destroyed" else key_material(alg, f"{name} key {i}")
        v["keys"].append({"id": key_id, "status": status, "created": created, "use_count": uses,
                          "material": material.hex()})
    return v


def main():
    keks = {"file": det("file kek", 32), "env": det("env kek", 32)}
    t0 = 1767225600  # 2026-01-01T00:00:00Z
    specs = [
        ("aes256gcm-three-keys", "AES256_GCM", "file",
         [(0x11111111, "disabled", t0, 5), (0x22222222, "destroyed", t0 + 60, 4294967295),
          (0x33333333, "enabled", t0 + 3600, 123456789)], 0x33333333, 0),
        ("chacha20poly1305-exportable-env", "CHACHA20_POLY1305", "env",
         [(0xFFFFFFFF, "enabled", t0, 0)], 0xFFFFFFFF, EXPORTABLE),
        ("xchacha20poly1305", "XCHACHA20_POLY1305", "file",
         [(0x00000001, "enabled", 0, 1), (0x80000000, "enabled", 2**64 - 1, 2**64 - 1)], 0x00000001, 0),
        ("aes256siv", "AES256_SIV", "file",
         [(0x0A0B0C0D, "enabled", t0, 7), (0x01020304, "disabled", t0 + 1, 0)], 0x0A0B0C0D, 0),
        ("hmac-sha256", "HMAC_SHA256", "env", [(0x5EED5EED, "enabled", t0, 42)], 0x5EED5EED, 0),
        ("hmac-sha512", "HMAC_SHA512", "file",
         [(0x10000000, "destroyed", t0, 9), (0x20000000, "enabled", t0 + 2, 3)], 0x20000000, EXPORTABLE),
        ("ed25519", "ED25519", "file",
         [(0xED25519A, "enabled", t0, 1000), (0xED25519B, "enabled", t0 + 10, 2)], 0xED25519B, 0),
        ("ecdsa-p256-der", "ECDSA_P256_SHA256_DER", "file", [(0x0000ECDA, "enabled", t0, 0)], 0x0000ECDA, 0),
        ("ecdsa-p256-p1363", "ECDSA_P256_SHA256_P1363", "env",
         [(0x0000ECDB, "enabled", t0, 0), (0x0000ECDC, "disabled", t0, 0)], 0x0000ECDB, 0),
        ("x25519", "X25519", "file", [(0x25519255, "enabled", t0, 0)], 0x25519255, 0),
        ("hkdf-sha256", "HKDF_SHA256", "file", [(0x4B444631, "enabled", t0, 0)], 0x4B444631, 0),
        ("hkdf-sha512", "HKDF_SHA512", "env", [(0x4B444632, "enabled", t0, 0)], 0x4B444632, 0),
    ]
    vectors = []
    for name, alg, kind, keys, primary, flags in specs:
        v = vector(name, alg, kind, keys, primary, flags)
        v["kek"] = keks[kind].hex()
        v["file"] = encode(v, keks[kind]).hex()
        v["check"] = check_for(v)
        vectors.append(v)

    # Invalid files: each breaks one rule of section 6, with valid crypto
    # around it, and must give exactly this status.
    base = vector("invalid-base", "AES256_GCM", "file",
                  [(0x0000000A, "enabled", t0, 1), (0x0000000B, "disabled", t0, 2)], 0x0000000A)
    kek = keks["file"]

    def variant(name, **changes):
        v = json.loads(json.dumps(base))
        v["name"] = name
        for k, val in changes.items():
            v[k] = val
        return v

    good = encode(base, kek)
    invalid = [
        ("version-2", encode(base, kek, version=2), "KH_E_UNSUPPORTED"),
        ("bad-magic", b"KHKX" + good[4:], "KH_E_MALFORMED"),
        # Offsets: header 9, keyset id 16, then alg at 25, flags at 29, kek_kind at 33.
        ("unknown-alg", good[:25] + struct.pack(">I", 99) + good[29:], "KH_E_UNSUPPORTED"),
        ("raw-flag", encode(variant("raw-flag", flags=0x1), kek), "KH_E_UNSUPPORTED"),
        ("unknown-kek-kind", good[:33] + b"\x04" + good[34:], "KH_E_MALFORMED"),
        ("primary-disabled", encode(variant("primary-disabled", primary=0x0000000B), kek), "KH_E_MALFORMED"),
        ("primary-missing", encode(variant("primary-missing", primary=0x0000000C), kek), "KH_E_MALFORMED"),
        ("duplicate-key-id", encode(variant("duplicate-key-id", keys=[base["keys"][0], base["keys"][0]]), kek),
         "KH_E_MALFORMED"),
        ("key-id-zero", encode(variant("key-id-zero", keys=[base["keys"][0], dict(base["keys"][1], id=0)]), kek),
         "KH_E_MALFORMED"),
        ("destroyed-with-material", encode(variant("destroyed-with-material", keys=[
            base["keys"][0], dict(base["keys"][1], status="destroyed")]), kek), "KH_E_MALFORMED"),
        ("short-material", encode(variant("short-material", keys=[
            base["keys"][0], dict(base["keys"][1], material=base["keys"][1]["material"][:62])]), kek),
         "KH_E_MALFORMED"),
        ("no-keys", encode(variant("no-keys", keys=[]), kek), "KH_E_MALFORMED"),
        ("trailing-byte", encode(base, kek, trailing=b"\x00"), "KH_E_MALFORMED"),
        ("unknown-wrap-method", encode(base, kek, wrap_method=9), "KH_E_UNSUPPORTED"),
        ("pkcs11-wrap-method", encode(base, kek, wrap_method=2), "KH_E_AUTH_FAILED"),
        ("wrong-kek", encode(base, keks["env"]), "KH_E_AUTH_FAILED"),
        ("aad-not-bound", encode(base, kek, aad_override=b""), "KH_E_AUTH_FAILED"),
    ]
    doc = {
        "format_version": 1,
        "spec": "docs/spec/keyset.md",
        "generator": "scripts/gen-keyset-golden.py (pyca/cryptography + PyNaCl)",
        "note": "Never edit or remove a vector: keyset files must stay decodable forever.",
        "vectors": vectors,
        "invalid": [{"name": n, "kek": kek.hex(), "file": f.hex(), "status": s} for n, f, s in invalid],
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
