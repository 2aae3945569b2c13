#!/usr/bin/env python3
"""Generate the seed corpora of the libFuzzer targets (fuzz/corpus/<target>/)
from the golden vectors (testdata/golden/formats_v1.json) plus hand-made
cases, in each target's input layout (documented at the top of
fuzz/<target>.cc). Raw-keyset seeds, plain signatures and public keys are
made with pyca/cryptography and PyNaCl, independently of keyhold, like the
golden vectors themselves.

Re-running reproduces the same files (all inputs fixed; ECDSA is RFC 6979)
and leaves the other files of the folders alone: inputs of fixed findings
(regress-*, added by hand) and inputs the fuzzer found that cover new edges
(named by their SHA-1, added by `FUZZ_MERGE=1 scripts/fuzz`).

Usage: scripts/gen-fuzz-corpus.py [repository root]
Requires: pip install cryptography pynacl
"""
import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV, ChaCha20Poly1305
import nacl.bindings as sodium

AEAD_ALGS = ["AES256_GCM", "CHACHA20_POLY1305", "XCHACHA20_POLY1305"]
SIG_ALGS = ["ED25519", "ECDSA_P256_SHA256_DER", "ECDSA_P256_SHA256_P1363"]
NONCE = {"AES256_GCM": 12, "CHACHA20_POLY1305": 12, "XCHACHA20_POLY1305": 24}
# Batch ops (kh_op) and the batch target's handle slots (fuzz/batch.cc).
OP = {"aead_enc": 1, "aead_dec": 2, "daead_enc": 3, "daead_dec": 4, "mac": 5, "mac_verify": 6,
      "sign": 7, "verify": 8, "seal": 9, "open": 10}
SLOT = {"gcm": 0, "chacha_raw": 1, "siv": 2, "hmac": 3, "ed25519": 4, "p1363_raw": 5, "x25519": 6,
        "xchacha": 7, "stale": 8, "zero": 9, "engine": 10, "forged": 11, "gcm_raw": 12}


def det(label, n):
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.sha256(f"keyhold fuzz {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def u16(n):
    return struct.pack(">H", n)


def aead_seal(alg, key, nonce, aad, pt):
    if alg == "AES256_GCM":
        return AESGCM(key).encrypt(nonce, pt, aad)
    if alg == "CHACHA20_POLY1305":
        return ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, nonce, key)


class Corpus:
    def __init__(self, root):
        self.root = os.path.join(root, "fuzz", "corpus")
        self.count = {}

    def add(self, target, name, data):
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def with_key_id(out, key_id):
    return out[:2] + struct.pack(">I", key_id) + out[6:]


def managed_variants(v):
    """The golden output and hand-made neighbours (formats.md section 8)."""
    out, kid = bytes.fromhex(v["output"]), v["key_id"]
    yield "golden", out
    yield "bad-version", b"\x02" + out[1:]
    yield "bad-alg", out[:1] + b"\x7f" + out[2:]
    yield "unknown-key", with_key_id(out, kid ^ 0x00000100)
    yield "disabled-key", with_key_id(out, kid ^ 0x10000000)
    yield "destroyed-key", with_key_id(out, kid ^ 0x20000000)
    yield "truncated", out[:-1]
    yield "header-only", out[:6]
    yield "flipped-last", out[:-1] + bytes([out[-1] ^ 1])


def aead_corpus(c, golden):
    t = "aead_decrypt"
    for v in golden:
        if v["kind"] != "aead":
            continue
        a = AEAD_ALGS.index(v["alg"])
        aad = bytes.fromhex(v["aad"])
        modes = range(4) if v["name"] == "short" else [0]
        for name, out in managed_variants(v):
            for mode in (modes if name == "golden" else [0]):
                sel = a | mode << 2
                c.add(t, f"managed-{v['alg'].lower()}-{v['name']}-{name}-mode{mode}", bytes([sel, len(aad)]) + aad + out)
        # Raw keysets: nonce || ct || tag with the same key, and open_nonce.
        if v["name"] == "empty":
            continue
        key, pt = bytes.fromhex(v["key"]), bytes.fromhex(v["msg"])
        nonce = det(v["alg"] + v["name"] + "nonce", NONCE[v["alg"]])
        ct = aead_seal(v["alg"], key, nonce, aad, pt)
        c.add(t, f"raw-{v['alg'].lower()}-{v['name']}", bytes([a | 1 << 4, len(aad)]) + aad + nonce + ct)
        c.add(t, f"raw-{v['alg'].lower()}-{v['name']}-inplace", bytes([a | 3 << 2 | 1 << 4, len(aad)]) + aad + nonce + ct)
        nonces = [nonce] + ([det("n8", 8), det("n16", 16), det("n128", 128)] if v["alg"] == "AES256_GCM" else [])
        for n in nonces:
            ct = aead_seal(v["alg"], key, n, aad, pt)
            c.add(t, f"open-nonce-{v['alg'].lower()}-{v['name']}-n{len(n)}",
                  bytes([a | 2 << 4, len(aad), len(n)]) + n + aad + ct)
    c.add(t, "empty", b"")
    c.add(t, "sel-only", b"\x00")
    c.add(t, "open-nonce-zero-len", bytes([2 << 4, 0, 0]) + bytes(16))
    c.add(t, "open-nonce-gcm-n1", bytes([2 << 4, 0, 1, 0x5A]) + bytes(20))


def daead_corpus(c, golden):
    t = "daead_decrypt"
    for v in golden:
        if v["kind"] != "daead":
            continue
        aad = bytes.fromhex(v["aad"])
        for name, out in managed_variants(v):
            for mode in (range(4) if name == "golden" else [0]):
                c.add(t, f"managed-{v['name']}-{name}-mode{mode}", bytes([mode, len(aad)]) + aad + out)
        key, pt = bytes.fromhex(v["key"]), bytes.fromhex(v["msg"])
        raw = AESSIV(key).encrypt(pt, [aad])
        for mode in range(4):
            c.add(t, f"raw-{v['name']}-mode{mode}", bytes([mode | 4, len(aad)]) + aad + raw)
    c.add(t, "empty", b"")
    c.add(t, "raw-siv-only-zero", bytes([4, 0]) + bytes(16))


def mac_corpus(c, golden):
    t = "mac_verify"
    for v in golden:
        if v["kind"] != "mac":
            continue
        a = 0 if v["alg"] == "HMAC_SHA256" else 1
        msg = bytes.fromhex(v["msg"])
        for name, out in managed_variants(v):
            c.add(t, f"managed-{v['alg'].lower()}-{v['name']}-{name}", bytes([a]) + u16(len(msg)) + msg + out)
        tag = bytes.fromhex(v["output"])[6:]
        from cryptography.hazmat.primitives import hmac as hm
        m = hm.HMAC(bytes.fromhex(v["key"]), hashes.SHA256() if a == 0 else hashes.SHA512())
        m.update(msg)
        full = m.finalize()
        for n in sorted({len(full), len(full) // 2, 10, 9, 1}):
            c.add(t, f"raw-{v['alg'].lower()}-{v['name']}-len{n}", bytes([a | 2]) + u16(len(msg)) + msg + full[:n])
        del tag
    c.add(t, "empty", b"")


def ecdsa_key(golden):
    v = next(v for v in golden if v["alg"] == "ECDSA_P256_SHA256_DER")
    return ec.derive_private_key(int(v["key"], 16), ec.SECP256R1())


def ed_key(golden):
    v = next(v for v in golden if v["alg"] == "ED25519")
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["key"]))


def plain_sig(alg, golden, msg):
    if alg == "ED25519":
        return ed_key(golden).sign(msg)
    der = ecdsa_key(golden).sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    if alg.endswith("P1363"):
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return der


def sig_corpus(c, golden):
    t = "sig_verify"
    for v in golden:
        if v["kind"] != "sig":
            continue
        a = SIG_ALGS.index(v["alg"])
        msg = bytes.fromhex(v["msg"])
        for name, out in managed_variants(v):
            c.add(t, f"managed-{v['alg'].lower()}-{v['name']}-{name}", bytes([a]) + u16(len(msg)) + msg + out)
        sig = plain_sig(v["alg"], golden, msg)
        for path in (1, 2, 3):
            c.add(t, f"plain{path}-{v['alg'].lower()}-{v['name']}", bytes([a | path << 2]) + u16(len(msg)) + msg + sig)
    # Hand-made: high-s ECDSA (n - s), a DER with a redundant leading zero,
    # r = s = 0, and an Ed25519 signature with S + L (non-canonical).
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    msg = b"hello, keyhold"
    p1363 = plain_sig("ECDSA_P256_SHA256_P1363", golden, msg)
    r, s = int.from_bytes(p1363[:32], "big"), int.from_bytes(p1363[32:], "big")
    high = r.to_bytes(32, "big") + (n - s).to_bytes(32, "big")
    c.add(t, "plain1-p1363-high-s", bytes([2 | 1 << 2]) + u16(len(msg)) + msg + high)
    c.add(t, "plain1-p1363-zero", bytes([2 | 1 << 2]) + u16(len(msg)) + msg + bytes(64))
    der = plain_sig("ECDSA_P256_SHA256_DER", golden, msg)
    rb = der[4:4 + der[3]]
    padded_r = b"\x02" + bytes([len(rb) + 1]) + b"\x00" + rb
    rest = der[4 + der[3]:]
    bad = b"\x30" + bytes([len(padded_r) + len(rest)]) + padded_r + rest
    c.add(t, "plain1-der-noncanonical-r", bytes([1 | 1 << 2]) + u16(len(msg)) + msg + bad)
    c.add(t, "plain1-der-trailing", bytes([1 | 1 << 2]) + u16(len(msg)) + msg + der + b"\x00")
    ed = plain_sig("ED25519", golden, msg)
    L = 2**252 + 27742317777372353535851937790883648493
    s_plus_l = (int.from_bytes(ed[32:], "little") + L).to_bytes(32, "little")
    c.add(t, "plain1-ed25519-s-plus-l", bytes([0 | 1 << 2]) + u16(len(msg)) + msg + ed[:32] + s_plus_l)
    c.add(t, "empty", b"")


def import_corpus(c, golden):
    t = "import_public"
    ed = ed_key(golden).public_key()
    p = ecdsa_key(golden).public_key()
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    ed_raw = ed.public_bytes(enc.Raw, fmt.Raw)
    ed_der = ed.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo)
    p_raw = p.public_bytes(enc.X962, fmt.UncompressedPoint)
    p_comp = p.public_bytes(enc.X962, fmt.CompressedPoint)
    p_der = p.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo)
    for sel in (1, 2):
        c.add(t, f"p256-raw-{sel}", bytes([sel]) + p_raw)
        c.add(t, f"p256-der-{sel}", bytes([sel]) + p_der)
    c.add(t, "ed25519-raw", b"\x00" + ed_raw)
    c.add(t, "ed25519-der", b"\x00" + ed_der)
    c.add(t, "ed25519-der-as-p256", b"\x01" + ed_der)
    c.add(t, "p256-der-as-ed25519", b"\x00" + p_der)
    c.add(t, "p256-compressed", b"\x01" + p_comp)
    c.add(t, "p256-hybrid", b"\x01" + bytes([0x06 | (p_raw[-1] & 1)]) + p_raw[1:])
    c.add(t, "p256-off-curve", b"\x01" + p_raw[:-1] + bytes([p_raw[-1] ^ 1]))
    c.add(t, "p256-infinity", b"\x01\x00")
    c.add(t, "p256-zero-point", b"\x01\x04" + bytes(64))
    c.add(t, "p256-der-trailing", b"\x01" + p_der + b"\x00")
    # SubjectPublicKeyInfo with the point in other SEC1 forms: compressed,
    # and hybrid (RFC 5480 section 2.2: MUST be rejected).
    def spki(point):
        alg = p_der[2:2 + 2 + p_der[3]]  # the AlgorithmIdentifier SEQUENCE
        bits = b"\x03" + bytes([len(point) + 1]) + b"\x00" + point
        return b"\x30" + bytes([len(alg) + len(bits)]) + alg + bits
    assert spki(p_raw) == p_der
    c.add(t, "p256-der-compressed", b"\x01" + spki(p_comp))
    c.add(t, "p256-der-hybrid", b"\x02" + spki(bytes([0x06 | (p_raw[-1] & 1)]) + p_raw[1:]))
    c.add(t, "p256-der-truncated", b"\x01" + p_der[:-1])
    c.add(t, "x25519", b"\x03" + ed_raw)
    c.add(t, "hmac", b"\x04" + ed_raw)
    c.add(t, "empty", b"")


def batch_item(slot, op, iflags, in_=b"", in2=b"", in3=b"", cap=None, in_len=None, in2_len=None):
    """One item in fuzz/batch.cc's layout. Chained inputs (iflags 1, 16)
    take no bytes; in_len/in2_len then give the length to read."""
    out = bytes([slot, op])
    if cap is not None:
        iflags |= 8
    out += bytes([iflags])
    if cap is not None:
        out += bytes([cap])
    n = len(in_) if in_len is None else in_len
    out += u16(n) if iflags & 64 else bytes([n])
    out += bytes([len(in2) if in2_len is None else in2_len, len(in3)])
    if not iflags & 1 and not iflags & 2:
        out += in_
    if not iflags & 16:
        out += in2
    return out + in3


def batch_corpus(c, golden):
    t = "batch"
    msg, aad = b"hello, keyhold", b"aad"
    it = batch_item
    chacha_key = next(bytes.fromhex(v["key"]) for v in golden if v["alg"] == "CHACHA20_POLY1305")
    nonce = det("batch nonce", 12)
    sealed = ChaCha20Poly1305(chacha_key).encrypt(nonce, msg, aad)
    seeds = {
        "encrypt-decrypt-chain": it(SLOT["gcm"], OP["aead_enc"], 0, msg, aad)
        + it(SLOT["gcm"], OP["aead_dec"], 1, in2=aad, in_len=len(msg) + 34),
        "seal-open-raw": it(SLOT["chacha_raw"], OP["seal"], 0, msg, aad, nonce)
        + it(SLOT["chacha_raw"], OP["open"], 1, in2=aad, in3=nonce, in_len=len(msg) + 16)
        + it(SLOT["chacha_raw"], OP["open"], 0, sealed, aad, nonce),
        "siv-chain": it(SLOT["siv"], OP["daead_enc"], 0, msg, aad)
        + it(SLOT["siv"], OP["daead_dec"], 1, in2=aad, in_len=len(msg) + 22),
        "mac-chain": it(SLOT["hmac"], OP["mac"], 0, msg) + it(SLOT["hmac"], OP["mac_verify"], 16, msg, in2_len=38),
        "sign-chain": it(SLOT["ed25519"], OP["sign"], 0, msg) + it(SLOT["ed25519"], OP["verify"], 16, msg, in2_len=70),
        "p1363-chain": it(SLOT["p1363_raw"], OP["sign"], 0, msg) + it(SLOT["p1363_raw"], OP["verify"], 16, msg, in2_len=64),
        "small-caps": it(SLOT["gcm"], OP["aead_enc"], 0, msg, aad, cap=10)
        + it(SLOT["siv"], OP["daead_enc"], 0, msg, aad, cap=0)
        + it(SLOT["hmac"], OP["mac"], 0, msg, cap=37)
        + it(SLOT["ed25519"], OP["sign"], 0, msg, cap=69),
        "null-out": it(SLOT["gcm"], OP["aead_enc"], 4, msg, aad) + it(SLOT["hmac"], OP["mac"], 4, msg),
        "null-in": it(SLOT["gcm"], OP["aead_enc"], 2, in_len=5) + it(SLOT["stale"], OP["mac"], 2, in_len=5),
        "stale-zero-engine-forged": it(SLOT["stale"], OP["mac"], 0, msg) + it(SLOT["zero"], OP["aead_enc"], 0, msg)
        + it(SLOT["engine"], OP["mac"], 0, msg) + bytes([SLOT["forged"]]) + bytes(range(8)) + bytes([OP["mac"], 0, 1, 0, 0, 0x41]),
        "wrong-primitive": it(SLOT["x25519"], OP["aead_enc"], 0, msg) + it(SLOT["hmac"], OP["sign"], 0, msg)
        + it(SLOT["siv"], OP["seal"], 0, msg, aad, nonce),
        "bad-ops": it(SLOT["gcm"], 0, 0, msg) + it(SLOT["gcm"], 11, 0, msg) + it(SLOT["gcm"], 255, 0, msg),
        "in-place": it(SLOT["gcm_raw"], OP["seal"], 32, msg, aad, nonce) + it(SLOT["chacha_raw"], OP["open"], 32, sealed, aad, nonce)
        + it(SLOT["gcm"], OP["aead_enc"], 32, msg, aad),
        "xchacha-long": it(SLOT["xchacha"], OP["aead_enc"], 64, det("long", 300), aad)
        + it(SLOT["xchacha"], OP["aead_dec"], 1 | 64, in2=aad, in_len=300 + 46),
        "mixed-keysets": it(SLOT["gcm"], OP["aead_enc"], 0, msg) + it(SLOT["hmac"], OP["mac"], 0, msg)
        + it(SLOT["gcm"], OP["aead_enc"], 0, msg) + it(SLOT["stale"], OP["aead_enc"], 0, msg)
        + it(SLOT["gcm"], OP["aead_dec"], 0, bytes(40)),
    }
    for name, body in seeds.items():
        c.add(t, name, b"\x00" + body)
    c.add(t, "out-failed-null", b"\x01" + seeds["mixed-keysets"])
    c.add(t, "items-null", b"\x02" + seeds["mac-chain"])
    c.add(t, "too-many", b"\x04")
    c.add(t, "empty", b"")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    with open(os.path.join(root, "testdata", "golden", "formats_v1.json")) as f:
        golden = json.load(f)["vectors"]
    c = Corpus(root)
    aead_corpus(c, golden)
    daead_corpus(c, golden)
    mac_corpus(c, golden)
    sig_corpus(c, golden)
    import_corpus(c, golden)
    batch_corpus(c, golden)
    for t, n in sorted(c.count.items()):
        print(f"{t}: {n} seeds")


if __name__ == "__main__":
    main()
