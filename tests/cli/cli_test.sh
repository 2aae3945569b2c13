#!/usr/bin/env bash
# cli_test.sh: the keyhold CLI binary, driven from the shell as a user
# would: exit codes, one-line errors, files on disk, pipes, concurrent
# processes. Prints one line per check and a closing "N passed, M failed";
# exits 1 if any check failed.
#
#   tests/cli/cli_test.sh [path/to/keyhold]     (default: build/bin/keyhold,
#                                                or $KEYHOLD_CLI)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${1:-${KEYHOLD_CLI:-$here/../../build/bin/keyhold}}
if [ ! -x "$cli" ]; then
  echo "cli_test: $cli is not built (scripts/build-cli)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")

work=$(mktemp -d "${TMPDIR:-/tmp}/keyhold-cli-test.XXXXXX")
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export KEYHOLD_HOME=$work/home
unset KEYHOLD_KEK KEYHOLD_ENDPOINT KEYHOLD_AEAD_MAX_MESSAGES
# Every key type is exercised, including the two a fresh install leaves off
# (AES-SIV, X25519; docs/decisions/0015-configuration-and-policy.md).
export KEYHOLD_POLICY_ENABLED=AES256_GCM,CHACHA20_POLY1305,XCHACHA20_POLY1305,AES256_SIV,HMAC_SHA256,HMAC_SHA512,ED25519,ECDSA_P256_SHA256_DER,ECDSA_P256_SHA256_P1363,X25519,HKDF_SHA256,HKDF_SHA512
unset KEYHOLD_CONFIG KEYHOLD_POLICY_DEPRECATED

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; }

# expect NAME CODE ARGS...: keyhold ARGS (stdin from $STDIN, default
# /dev/null) exits CODE; a failure prints exactly one "keyhold: " line on
# stderr and a success nothing. Output is left in out.txt / err.txt.
expect() {
  local name=$1 want=$2 code=0
  shift 2
  "$cli" "$@" <"${STDIN:-/dev/null}" >out.txt 2>err.txt || code=$?
  if [ "$code" != "$want" ]; then
    fail "$name" "exit $code, want $want: $(head -c 300 err.txt)"
    return 1
  fi
  if [ "$code" = 0 ] && [ -s err.txt ]; then
    fail "$name" "exit 0 with stderr: $(head -c 300 err.txt)"
    return 1
  fi
  if [ "$code" != 0 ] && { [ "$(wc -l <err.txt)" != 1 ] || ! grep -q '^keyhold: ' err.txt; }; then
    fail "$name" "stderr is not one 'keyhold: ' line: $(head -c 300 err.txt)"
    return 1
  fi
  pass "$name"
}
# check NAME COMMAND...: a shell condition.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "condition failed: $*"; fi
}
flip() { # flip FILE OFFSET: invert the low bit of one byte
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
usecount() { # usecount KEYSET: the primary key's use count
  "$cli" keyset info "$1" --json | tr -d ' \n' | grep -o '"primary":true,[^}]*"use_count":[0-9]*' | grep -o '[0-9]*$'
}
no_temp_files() { ! ls -A "${1:-.}" | grep -q 'keyhold-tmp'; }

secret='SECRET-PLAINTEXT-MARKER 4111-1111-1111-1111'
printf '%s\n' "$secret" >msg.txt

# --- help and usage
expect "help" 0 --help
check "help documents exit codes 0-7" grep -q '^  7  wrong keyset type' out.txt
for c in "keyset create" "keyset rotate" "keyset disable" "keyset enable" "keyset destroy" "keyset info" \
  "keyset export-public" "keyset export-wrapped" "keyset import-wrapped" encrypt decrypt sign verify mac version selftest; do
  # shellcheck disable=SC2086
  expect "help: $c" 0 $c --help && check "help: $c has an example" grep -q '^Examples:' out.txt
done
expect "usage: unknown command" 2 frobnicate
expect "usage: unknown flag" 2 encrypt --keyset x --bogus
expect "usage: missing required flag" 2 encrypt
expect "usage: bad type" 2 keyset create --type des --out des.keyset
expect "usage: bad KEK spec" 2 --kek vault:x keyset create --type aes256-gcm --out x.keyset

# --- version, selftest
expect "version" 0 version
expect "version --json" 0 version --json
check "version --json has build and runtime" grep -q '"source_revision"' out.txt
check "version --json has the Go runtime" grep -q '"go": "go' out.txt
expect "selftest" 0 selftest
check "selftest reports the self-test" grep -q 'self-test passed' out.txt
check "version and selftest create no KEK" test ! -e "$KEYHOLD_HOME/master.key"
check "version and selftest are audited" grep -q '"type":"selftest","result":"passed"' "$KEYHOLD_HOME/audit.log"

# --- keysets and round trips
expect "create aes256-gcm (first use creates the master key)" 0 keyset create --type aes256-gcm --out aes.keyset
check "master key created 0600" test "$(stat -c %a "$KEYHOLD_HOME/master.key")" = 600
check "keyset file is 0600" test "$(stat -c %a aes.keyset)" = 600
expect "create over an existing file is refused" 5 keyset create --type aes256-gcm --out aes.keyset
expect "create --force replaces" 0 keyset create --type aes256-gcm --out aes.keyset --force
for t in chacha20-poly1305 xchacha20-poly1305 aes256-siv hmac-sha256 hmac-sha512 ed25519 ecdsa-p256; do
  expect "create $t" 0 keyset create --type "$t" --out "$t.keyset"
done
for t in aes chacha20-poly1305 xchacha20-poly1305 aes256-siv; do
  expect "encrypt ($t)" 0 encrypt --keyset "$t.keyset" --ad a:1 -i msg.txt -o "$t.khe"
  expect "decrypt ($t)" 0 decrypt --keyset "$t.keyset" --ad a:1 -i "$t.khe" -o "$t.out"
  check "round trip ($t)" cmp -s msg.txt "$t.out"
  check "plaintext output is 0600 ($t)" test "$(stat -c %a "$t.out")" = 600
done
check "ciphertext hides the plaintext" bash -c "! grep -q SECRET aes.khe"
STDIN=msg.txt expect "encrypt stdin to stdout" 0 encrypt --keyset aes.keyset
cp out.txt piped.khe
STDIN=piped.khe expect "decrypt stdin to stdout" 0 decrypt --keyset aes.keyset
check "pipe round trip" cmp -s msg.txt out.txt
: >empty.txt
expect "encrypt empty input" 0 encrypt --keyset aes.keyset -i empty.txt -o empty.khe
expect "decrypt empty input" 0 decrypt --keyset aes.keyset -i empty.khe -o empty.out
check "empty round trip" test -f empty.out -a ! -s empty.out

for t in ed25519 ecdsa-p256; do
  expect "sign ($t)" 0 sign --keyset "$t.keyset" -i msg.txt -o "$t.sig"
  expect "verify ($t)" 0 verify --keyset "$t.keyset" --sig "$t.sig" -i msg.txt
  check "verify says verified ($t)" grep -q '^verified' out.txt
  expect "export-public pem ($t)" 0 keyset export-public "$t.keyset" -o "$t.pem"
  check "pem is a PUBLIC KEY ($t)" grep -q 'BEGIN PUBLIC KEY' "$t.pem"
  expect "export-public jwk ($t)" 0 keyset export-public "$t.keyset" --format jwk
  check "jwk has a kid ($t)" grep -q '"kid"' out.txt
done
if command -v openssl >/dev/null; then
  { head -c 6 ed25519.sig; cat msg.txt; } >signed.bin
  tail -c +7 ed25519.sig >raw.sig
  check "openssl verifies the Ed25519 signature with the exported key" \
    openssl pkeyutl -verify -pubin -inkey ed25519.pem -rawin -in signed.bin -sigfile raw.sig -out /dev/null
fi
for t in hmac-sha256 hmac-sha512; do
  expect "mac ($t)" 0 mac --keyset "$t.keyset" -i msg.txt -o "$t.tag"
  expect "mac --verify ($t)" 0 mac --keyset "$t.keyset" -i msg.txt --verify "$t.tag"
done

# --- 3: authentication
cp aes.khe tampered.khe
flip tampered.khe 30
expect "tampered ciphertext" 3 decrypt --keyset aes.keyset --ad a:1 -i tampered.khe -o tampered.out
check "no output after a failed decryption" test ! -e tampered.out
check "no temporary file after a failed decryption" no_temp_files
printf 'previous\n' >existing.out
expect "tampered ciphertext over an existing file" 3 decrypt --keyset aes.keyset --ad a:1 -i tampered.khe -o existing.out
check "existing output unchanged" grep -qx previous existing.out
head -c 20 aes.khe >truncated.khe
expect "truncated ciphertext" 3 decrypt --keyset aes.keyset --ad a:1 -i truncated.khe
expect "wrong associated data" 3 decrypt --keyset aes.keyset --ad a:2 -i aes.khe
expect "another keyset's ciphertext" 3 decrypt --keyset chacha20-poly1305.keyset --ad a:1 -i aes.khe
check "no plaintext on stderr" bash -c "! grep -q SECRET err.txt"
printf 'altered\n' >>msg.txt.alt
cat msg.txt msg.txt.alt >altered.txt
expect "verify an altered message" 3 verify --keyset ed25519.keyset --sig ed25519.sig -i altered.txt
cp ecdsa-p256.sig bad.sig
flip bad.sig 20
expect "verify a tampered signature" 3 verify --keyset ecdsa-p256.keyset --sig bad.sig -i msg.txt
expect "mac --verify an altered message" 3 mac --keyset hmac-sha256.keyset -i altered.txt --verify hmac-sha256.tag
cp aes.keyset corrupt.keyset
flip corrupt.keyset 0
expect "corrupted keyset file (magic)" 3 decrypt --keyset corrupt.keyset --ad a:1 -i aes.khe
# An altered sealed part cannot be told from a wrong KEK: exit 6, and the
# message names both causes (docs/cli.md).
cp aes.keyset sealed.keyset
flip sealed.keyset $(($(stat -c %s sealed.keyset) - 3))
expect "corrupted keyset file (sealed part)" 6 decrypt --keyset sealed.keyset --ad a:1 -i aes.khe
check "the message says the file may be altered" grep -q 'altered' err.txt
head -c $(($(stat -c %s aes.keyset) / 2)) aes.keyset >truncated.keyset
chmod 600 truncated.keyset
expect "truncated keyset file" 3 decrypt --keyset truncated.keyset --ad a:1 -i aes.khe

# --- 4: policy and limits
expect "export-wrapped of a non-exportable keyset" 4 keyset export-wrapped aes.keyset --to-kek "file:$work/transfer.key" -o w.bin
truncate -s $((64 * 1024 * 1024 + 1)) huge.bin
expect "one-shot (aes256-siv) input over 64 MiB" 4 encrypt --keyset aes256-siv.keyset -i huge.bin -o huge.khe
check "the limit is named" grep -q '64 MiB' err.txt
rm -f huge.bin

# --- streaming: AEAD keysets encrypt any size in bounded memory
# (docs/spec/stream.md: 49-byte header, 64 KiB segments + 16-byte tags)
head -c $((100 * 1024 * 1024 + 12345)) /dev/urandom >big.bin
big=$(stat -c %s big.bin)
segs=$(((big + 65535) / 65536))
rss_of() { grep -o 'maxrss=[0-9]*' "$1" | cut -d= -f2; }
timed() { # timed LOG ARGS...: expect, recording peak RSS (KiB) when GNU time exists
  local log=$1
  shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f 'maxrss=%M' -o "$log" "$cli" "$@" <"${STDIN:-/dev/null}" >out.txt 2>err.txt
  else
    "$cli" "$@" <"${STDIN:-/dev/null}" >out.txt 2>err.txt
  fi
}
if timed enc.time encrypt --keyset aes.keyset --ad big -i big.bin -o big.khe; then pass "stream: encrypt 100 MiB"; else fail "stream: encrypt 100 MiB" "$(head -c 300 err.txt)"; fi
check "stream: ciphertext is header + data + 16 bytes per segment" test "$(stat -c %s big.khe)" = $((49 + big + 16 * segs))
check "stream: first byte is the stream version 0x81" test "$(od -An -tx1 -N1 big.khe | tr -d ' ')" = 81
if timed dec.time decrypt --keyset aes.keyset --ad big -i big.khe -o big.out; then pass "stream: decrypt 100 MiB"; else fail "stream: decrypt 100 MiB" "$(head -c 300 err.txt)"; fi
check "stream: round trip of 100 MiB" cmp -s big.bin big.out
if [ -x /usr/bin/time ]; then
  check "stream: encrypt peak RSS $(rss_of enc.time) KiB < 64 MiB" test "$(rss_of enc.time)" -lt 65536
  check "stream: decrypt peak RSS $(rss_of dec.time) KiB < 64 MiB" test "$(rss_of dec.time)" -lt 65536
fi
rm -f big.out
check "stream: pipe round trip (stdin to stdout both ways)" \
  bash -c "'$cli' encrypt --keyset aes.keyset <big.bin | '$cli' decrypt --keyset aes.keyset | cmp -s - big.bin"
seg=$((65536 + 16))
head -c $((49 + 3 * seg)) big.khe >cut-boundary.khe
expect "stream: truncated at a segment boundary" 3 decrypt --keyset aes.keyset --ad big -i cut-boundary.khe -o cut.out
check "stream: no output file after truncation at a boundary" test ! -e cut.out
head -c $((49 + 3 * seg + 1000)) big.khe >cut-inside.khe
expect "stream: truncated inside a segment" 3 decrypt --keyset aes.keyset --ad big -i cut-inside.khe -o cut.out
check "stream: no output file after truncation inside a segment" test ! -e cut.out
head -c 49 big.khe >cut-header.khe
expect "stream: only the header left" 3 decrypt --keyset aes.keyset --ad big -i cut-header.khe -o cut.out
cp big.khe tampered-big.khe
flip tampered-big.khe $((49 + 700 * seg + 77))
expect "stream: a bit flipped in segment 700" 3 decrypt --keyset aes.keyset --ad big -i tampered-big.khe -o cut.out
check "stream: no output file after a tampered segment" test ! -e cut.out
check "stream: the error says authentication failed" grep -q 'authentication failed' err.txt
{ head -c $((49 + seg)) big.khe; tail -c +$((49 + 1)) big.khe | head -c "$seg"; tail -c +$((49 + 2 * seg + 1)) big.khe; } >swapped.khe
expect "stream: segment 0 repeated in place of segment 1" 3 decrypt --keyset aes.keyset --ad big -i swapped.khe -o cut.out
expect "stream: wrong associated data" 3 decrypt --keyset aes.keyset --ad other -i big.khe -o cut.out
check "stream: no temporary files after the failures" no_temp_files
rm -f big.bin big.khe cut-*.khe tampered-big.khe swapped.khe
expect "create a limited keyset" 0 keyset create --type chacha20-poly1305 --out limited.keyset
export KEYHOLD_AEAD_MAX_MESSAGES=2
expect "limited: use 1" 0 encrypt --keyset limited.keyset -i msg.txt -o l1.khe
expect "limited: use 2" 0 encrypt --keyset limited.keyset -i msg.txt -o l2.khe
expect "limited: use 3 refused (count persisted across runs)" 4 encrypt --keyset limited.keyset -i msg.txt -o l3.khe
check "limited: no output" test ! -e l3.khe
expect "limited: rotate" 0 keyset rotate limited.keyset
expect "limited: encrypt after rotation" 0 encrypt --keyset limited.keyset -i msg.txt -o l3.khe
unset KEYHOLD_AEAD_MAX_MESSAGES

# --- lifecycle
expect "rotate" 0 keyset rotate aes.keyset --json
expect "old ciphertext decrypts after rotation" 0 decrypt --keyset aes.keyset --ad a:1 -i aes.khe
old_id=$((16#$(od -An -tx1 -j2 -N4 aes.khe | tr -d ' ')))
expect "disable the old key" 0 keyset disable aes.keyset --key "$old_id"
expect "decrypt with a disabled key" 4 decrypt --keyset aes.keyset --ad a:1 -i aes.khe
expect "enable the old key" 0 keyset enable aes.keyset --key "$old_id"
expect "decrypt after enable" 0 decrypt --keyset aes.keyset --ad a:1 -i aes.khe
expect "destroy the old key" 0 keyset destroy aes.keyset --key "$old_id"
expect "decrypt with a destroyed key" 4 decrypt --keyset aes.keyset --ad a:1 -i aes.khe
expect "unknown key id" 2 keyset disable aes.keyset --key 1
expect "keyset info" 0 keyset info aes.keyset
check "info shows the destroyed key" grep -q destroyed out.txt
KEYHOLD_KEK=env:KEYHOLD_NO_SUCH_VARIABLE expect "keyset info needs no KEK" 0 keyset info aes.keyset --json
check "info --json names the KEK kind" grep -q '"kek": "file"' out.txt

# --- 5: I/O
expect "missing keyset" 5 encrypt --keyset absent.keyset -i msg.txt
expect "missing input" 5 encrypt --keyset aes.keyset -i absent.txt
expect "input is a directory" 5 encrypt --keyset aes.keyset -i "$work"
expect "missing output directory" 5 encrypt --keyset aes.keyset -i msg.txt -o no/such/dir/x
if [ "$(id -u)" != 0 ]; then
  mkdir ro && chmod 500 ro
  expect "unwritable output directory" 5 encrypt --keyset aes.keyset -i msg.txt -o ro/x
  expect "keyset in an unreadable directory" 5 keyset create --type aes256-gcm --out ro/k.keyset
fi

# --- 6: KEK
mkdir other && KEYHOLD_HOME=$work/other expect "a second home's KEK" 0 keyset create --type aes256-gcm --out other/o.keyset
expect "wrong KEK" 6 decrypt --keyset aes.keyset --kek "file:$work/other/master.key" -i aes.khe
expect "missing KEK file" 6 decrypt --keyset aes.keyset --kek "file:$work/absent.key" -i aes.khe
check "a missing KEK file is not created" test ! -e "$work/absent.key"
expect "unset KEK variable" 6 decrypt --keyset aes.keyset --kek env:KEYHOLD_NO_SUCH_VARIABLE -i aes.khe
KEYHOLD_HOME=$work/empty-home expect "no default master key" 6 decrypt --keyset aes.keyset -i aes.khe
check "no master key created by decrypt" test ! -e "$work/empty-home/master.key"
chmod 644 "$KEYHOLD_HOME/master.key"
expect "KEK file open to others" 6 decrypt --keyset aes.keyset -i aes.khe
chmod 600 "$KEYHOLD_HOME/master.key"
chmod 644 aes.keyset
expect "keyset file open to others" 4 decrypt --keyset aes.keyset -i aes.khe
check "the message says chmod 600" grep -q 'chmod 600' err.txt
chmod 600 aes.keyset

# env: KEKs
export KH_TEST_KEK=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
export KH_TEST_OTHER_KEK=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
export KH_TEST_BAD_KEK=not-hex
expect "env KEK: create" 0 --kek env:KH_TEST_KEK keyset create --type aes256-gcm --out env.keyset
STDIN=msg.txt expect "env KEK: encrypt" 0 --kek env:KH_TEST_KEK encrypt --keyset env.keyset -o env.khe
KEYHOLD_KEK=env:KH_TEST_KEK expect "env KEK via KEYHOLD_KEK: decrypt" 0 decrypt --keyset env.keyset -i env.khe -o env.out
check "env KEK round trip" cmp -s msg.txt env.out
expect "env KEK: the wrong key" 6 --kek env:KH_TEST_OTHER_KEK decrypt --keyset env.keyset -i env.khe
expect "env KEK: a malformed key" 6 --kek env:KH_TEST_BAD_KEK decrypt --keyset env.keyset -i env.khe
expect "env KEK: the file KEK is the wrong kind" 6 decrypt --keyset env.keyset -i env.khe
check "the message names the kind" grep -q 'saved under an env KEK' err.txt

# pkcs11: KEKs (SoftHSM2), when installed
module=
for m in "${KEYHOLD_SOFTHSM2_MODULE:-}" /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  if [ -n "$m" ] && [ -f "$m" ]; then module=$m; break; fi
done
if [ -n "$module" ] && command -v softhsm2-util >/dev/null; then
  mkdir -p hsm/tokens
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/hsm/tokens" >hsm/softhsm2.conf
  export SOFTHSM2_CONF=$work/hsm/softhsm2.conf
  softhsm2-util --init-token --free --label cli-test --so-pin 1234 --pin 5678 >/dev/null
  export KH_TEST_PIN=5678 KH_TEST_WRONG_PIN=0000
  hsm="pkcs11:module=$module;token=cli-test;pin-env=KH_TEST_PIN;key=cli-kek"
  expect "pkcs11 KEK: create" 0 --kek "$hsm" keyset create --type ed25519 --out hsm.keyset
  expect "pkcs11 KEK: sign" 0 --kek "$hsm" sign --keyset hsm.keyset -i msg.txt -o hsm.sig
  expect "pkcs11 KEK: verify" 0 --kek "$hsm" verify --keyset hsm.keyset --sig hsm.sig -i msg.txt
  expect "pkcs11 KEK: wrong PIN" 6 --kek "${hsm/KH_TEST_PIN/KH_TEST_WRONG_PIN}" verify --keyset hsm.keyset --sig hsm.sig -i msg.txt
  expect "pkcs11 KEK: token absent" 6 --kek "${hsm/token=cli-test/token=absent}" verify --keyset hsm.keyset --sig hsm.sig -i msg.txt
else
  echo "skip  pkcs11 KEK checks (SoftHSM2 not installed)"
fi

# --- 7: wrong keyset type
expect "sign with an AEAD keyset" 7 sign --keyset aes.keyset -i msg.txt -o x.sig
expect "encrypt with a signature keyset" 7 encrypt --keyset ed25519.keyset -i msg.txt -o x.khe
expect "verify with a MAC keyset" 7 verify --keyset hmac-sha256.keyset --sig ed25519.sig -i msg.txt
expect "mac with an AEAD keyset" 7 mac --keyset aes.keyset -i msg.txt -o x.tag
expect "export-public of an AEAD keyset" 7 keyset export-public aes.keyset

# --- export and import
expect "create exportable" 0 keyset create --type xchacha20-poly1305 --out exp.keyset --exportable
expect "encrypt with it" 0 encrypt --keyset exp.keyset -i msg.txt -o exp.khe
expect "export-wrapped" 0 keyset export-wrapped exp.keyset --to-kek "file:$work/transfer.key" -o exp.wrapped
check "wrapped export is 0600" test "$(stat -c %a exp.wrapped)" = 600
mkdir dest
KEYHOLD_HOME=$work/dest expect "import-wrapped elsewhere" 0 keyset import-wrapped exp.wrapped --from-kek "file:$work/transfer.key" --out dest/exp.keyset
KEYHOLD_HOME=$work/dest expect "the imported keyset decrypts" 0 decrypt --keyset dest/exp.keyset -i exp.khe -o dest/exp.out
check "imported round trip" cmp -s msg.txt dest/exp.out

# --- concurrent processes lose no use count
expect "create for concurrency" 0 keyset create --type hmac-sha256 --out conc.keyset
before=$(usecount conc.keyset)
pids=()
for _ in 1 2 3 4 5 6 7 8; do
  (for _ in 1 2 3; do "$cli" mac --keyset conc.keyset -i msg.txt >/dev/null || exit 1; done) &
  pids+=($!)
done
conc_ok=0
for p in "${pids[@]}"; do wait "$p" || conc_ok=1; done
check "24 concurrent MACs succeed" test "$conc_ok" = 0
after=$(usecount conc.keyset)
check "use count grew by exactly 24 ($before -> $after)" test "$((after - before))" = 24

# --- audit log (docs/spec/audit.md): written by every process above,
# the 24 concurrent ones included, as one chain
log=$KEYHOLD_HOME/audit.log
check "audit log is 0600" test "$(stat -c %a "$log")" = 600
check "audit key is 0600" test "$(stat -c %a "$KEYHOLD_HOME/audit.key")" = 600
check "audit log holds no plaintext" test "$(grep -c 'SECRET-PLAINTEXT-MARKER' "$log")" = 0
check "audit log records the 24 concurrent MACs" \
  test "$(grep '"op":"mac_compute","outcome":"KH_OK","count":1,' "$log" | wc -l)" -ge 24
expect "audit verify" 0 audit verify "$log"
check "audit verify says ok" grep -q '^ok: ' out.txt
cp "$log" audit.orig
n=$(wc -l <audit.orig)
tamper() { # tamper NAME LINE SED-SCRIPT | "truncate K": exit 3 naming LINE
  local name=$1 line=$2
  shift 2
  if [ "$1" = truncate ]; then head -n "-$2" audit.orig >"$log"; else sed "$1" audit.orig >"$log"; fi
  expect "audit verify catches: $name" 3 audit verify "$log" &&
    check "  ... at line $line" grep -q "audit.log:$line:" err.txt
}
tamper "a deleted record" 5 '5d'
tamper "an inserted record" 6 '5p'
tamper "reordered records" 5 '5{h;d};6G'
tamper "an edited record" 4 '3s/"pid":[0-9]*/"pid":1/'
tamper "records cut off the end" $((n - 2)) truncate 3
cp audit.orig "$log"
expect "audit verify after restoring" 0 audit verify "$log"
mkdir rot
KEYHOLD_HOME=$work/rot KEYHOLD_AUDIT_MAX_BYTES=4096 expect "create under a small rotation size" 0 \
  keyset create --type ed25519 --out rot/r.keyset
for _ in 1 2 3 4 5 6 7 8 9 10; do
  KEYHOLD_HOME=$work/rot KEYHOLD_AUDIT_MAX_BYTES=4096 "$cli" keyset rotate rot/r.keyset >/dev/null 2>&1
done
first_rotated=$(ls rot/audit.log.[0-9]* 2>/dev/null | head -n 1)
check "the audit log rotated" test -n "$first_rotated"
expect "audit verify --rotated" 0 audit verify --rotated rot/audit.log
sed -i 3d "$first_rotated"
expect "audit verify --rotated catches a record deleted before rotation" 3 audit verify --rotated rot/audit.log &&
  check "  ... in the rotated file, line 3" grep -q "$first_rotated:3:" err.txt
mkdir -p blocked/audit.log
KEYHOLD_HOME=$work/blocked expect "no keyset is created when the audit log cannot be written" 5 \
  keyset create --type aes256-gcm --out blocked.keyset
check "  ... and no file is left" test ! -e blocked.keyset
KEYHOLD_HOME=$work/blocked KEYHOLD_AUDIT_FAILURE=open expect "unless KEYHOLD_AUDIT_FAILURE=open" 0 \
  keyset create --type aes256-gcm --out blocked.keyset

# Configuration: sources, precedence, errors naming the setting, policy.
printf '[engine]\nuse_reservation = 4096\n[policy]\nallow_export = false\n[daemon]\nsocket = "/x"\n' >keyhold.toml
KEYHOLD_CONFIG=$work/keyhold.toml KEYHOLD_USE_RESERVATION=512 expect "config show" 0 config show
check "  ... a file value is marked file" grep -Eq '^policy.allow_export +file +KEYHOLD_POLICY_ALLOW_EXPORT +false' out.txt
check "  ... the environment wins over the file" grep -Eq '^engine.use_reservation +env +KEYHOLD_USE_RESERVATION +512' out.txt
check "  ... defaults are marked default" grep -Eq '^metrics.latency_sample +default' out.txt
KEYHOLD_CONFIG=$work/keyhold.toml expect "config show --json" 0 config show --json
check "  ... names the file" grep -q "\"file\": \"$work/keyhold.toml\"" out.txt
printf '[policy]\nenable = ["AES256_GCM"]\n' >bad.toml
KEYHOLD_CONFIG=$work/bad.toml expect "an unknown config key stops the engine" 1 config show
check "  ... and is named" grep -q 'unknown key policy."enable"' err.txt
KEYHOLD_POLICY_ENABLED=AES256_GCM,AES128_GCM expect "an unknown algorithm stops the engine" 1 \
  keyset create --type aes256-gcm --out never.keyset
check "  ... naming the variable and the name" grep -q 'KEYHOLD_POLICY_ENABLED: unknown algorithm "AES128_GCM"' err.txt
KEYHOLD_POLICY_ENABLED= expect "a fresh install refuses AES-SIV (policy, exit 4)" 4 \
  keyset create --type aes256-siv --out siv-default.keyset
KEYHOLD_POLICY_ENABLED= expect "selftest passes under the default policy" 0 selftest
check "  ... reporting AES-SIV skipped" grep -Eq 'aes256-siv +skipped: disabled by policy' out.txt
expect "a keyset made while AES-GCM is enabled" 0 keyset create --type aes256-gcm --out dep.keyset &&
  expect "  ... encrypts" 0 encrypt --keyset dep.keyset -i msg.txt -o dep.khe
KEYHOLD_POLICY_ENABLED=ED25519 KEYHOLD_POLICY_DEPRECATED=AES256_GCM expect "a deprecated algorithm still decrypts" 0 \
  decrypt --keyset dep.keyset -i dep.khe -o dep.out
check "  ... the plaintext" cmp -s msg.txt dep.out
KEYHOLD_POLICY_ENABLED=ED25519 KEYHOLD_POLICY_DEPRECATED=AES256_GCM STDIN=msg.txt expect \
  "a deprecated algorithm does not encrypt (exit 4)" 4 encrypt --keyset dep.keyset

check "no temporary files anywhere" no_temp_files "$work"

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
