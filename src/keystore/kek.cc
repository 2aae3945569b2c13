#include "keystore/kek.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/openssl.h"
#include "core/home.h"
#include "kdf/kdf.h"
#include "keystore/file.h"
#include "keystore/gcm.h"
#include "keystore/pkcs11.h"

namespace keyhold::keystore {
namespace {

// HKDF info strings (docs/spec/keyset.md section 5.1): the 32-byte KEK is
// never used directly, so one key file could later key other things
// (such as the audit chain) without two uses sharing a key.
constexpr std::string_view kWrapInfo = "keyhold keyset v1 kek wrap";
constexpr std::string_view kIdInfo = "keyhold keyset v1 kek id";

ByteView Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// LocalKek: a file or env KEK. It keeps only keys derived from the KEK.
class LocalKek final : public Kek {
 public:
  LocalKek(kh_kek_kind kind, secmem::SecretBytes wrap_key) : kind_(kind), wrap_key_(std::move(wrap_key)) {}
  kh_kek_kind kind() const override { return kind_; }
  WrapMethod method() const override { return WrapMethod::kEngineAesGcm; }
  void set_id(const keyset::Keyset::KekId& id) { id_ = id; }

  Status Wrap(ByteView data_key, ByteView aad, MutableBytes body) override {
    if (data_key.size() != kDataKeyLen || body.size() != kWrapBodyLen) return KH_E_INTERNAL;
    uint8_t* nonce = body.data();
    if (RAND_bytes(nonce, kGcmNonceLen) != 1) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    auto gcm = Gcm::Seal(wrap_key_.view(), ByteView(nonce, kGcmNonceLen), aad);
    if (!gcm.ok()) return gcm.status();
    KH_RETURN_IF_ERROR(gcm->Update(data_key, body.data() + kGcmNonceLen));
    return gcm->FinishSeal(body.data() + kGcmNonceLen + kDataKeyLen);
  }

  Status Unwrap(ByteView body, ByteView aad, secmem::SecretBytes* data_key) override {
    if (body.size() != kWrapBodyLen) return KH_E_MALFORMED;
    auto dk = secmem::SecretBytes::Create(kDataKeyLen);
    if (!dk.ok()) return KH_E_OUT_OF_MEMORY;
    auto gcm = Gcm::Open(wrap_key_.view(), body.first(kGcmNonceLen), aad);
    if (!gcm.ok()) return gcm.status();
    KH_RETURN_IF_ERROR(gcm->Update(body.subspan(kGcmNonceLen, kDataKeyLen), dk.data()));
    KH_RETURN_IF_ERROR(gcm->FinishOpen(body.subspan(kGcmNonceLen + kDataKeyLen)));
    *data_key = std::move(dk);  // dk is wiped on every failure path by its destructor
    return OkStatus();
  }

 private:
  kh_kek_kind kind_;
  secmem::SecretBytes wrap_key_;
};

bool ValidEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

const char* GetEnv(const std::string& name) {
  // keyhold never calls setenv; the caller's environment is read as is.
  return std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
}

StatusOr<std::shared_ptr<Kek>> OpenEnvKek(std::string_view name) {
  if (!ValidEnvName(name)) return Status(KH_E_INVALID_ARGUMENT);
  const char* v = GetEnv(std::string(name));
  if (v == nullptr || *v == '\0') return Status(KH_E_KEK_UNAVAILABLE);
  secmem::SecretBytes key;
  KH_RETURN_IF_ERROR(DecodeHexKey(v, &key));
  return NewLocalKek(KH_KEK_ENV, key.view());
}

// kKeyFileCap: 64 hex digits and a newline, with room to notice more.
constexpr size_t kKeyFileCap = 80;

// ParseKeyFile: 64 hex digits, optionally one "\n".
Status ParseKeyFile(const uint8_t* buf, size_t n, secmem::SecretBytes* key) {
  std::string_view text(reinterpret_cast<const char*>(buf), n);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return DecodeHexKey(text, key);
}

StatusOr<std::shared_ptr<Kek>> OpenFileKek(const std::string& path) {
  if (path.empty()) return Status(KH_E_INVALID_ARGUMENT);
  uint8_t buf[kKeyFileCap];
  for (int attempt = 0; attempt < 2; ++attempt) {
    size_t n = 0;
    Status s = ReadSmallKeyFile(path, buf, sizeof(buf), &n);
    if (s.ok()) {
      secmem::SecretBytes key;
      s = ParseKeyFile(buf, n, &key);
      OPENSSL_cleanse(buf, sizeof(buf));
      if (!s.ok()) return s;
      return NewLocalKek(KH_KEK_FILE, key.view());
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (s.code() == KH_E_TOO_LARGE) return Status(KH_E_INVALID_ARGUMENT);
    if (s.code() != KH_E_NOT_FOUND) return s;
    // First use: a fresh random key. Created exclusively, so two processes
    // starting at once agree on one key.
    auto key = secmem::SecretBytes::Create(kDataKeyLen);
    if (!key.ok()) return Status(KH_E_OUT_OF_MEMORY);
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
      backend::ClearErrors();
      return Status(KH_E_INTERNAL);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    uint8_t text[2 * kDataKeyLen + 1];
    for (size_t i = 0; i < kDataKeyLen; ++i) {
      text[2 * i] = static_cast<uint8_t>(kHex[key.data()[i] >> 4]);
      text[2 * i + 1] = static_cast<uint8_t>(kHex[key.data()[i] & 0xF]);
    }
    text[2 * kDataKeyLen] = '\n';
    bool existed = false;
    s = CreateFileExclusive(path, ByteView(text, sizeof(text)), &existed);
    OPENSSL_cleanse(text, sizeof(text));
    if (s.code() == KH_E_NOT_FOUND) return Status(KH_E_IO);  // the directory is missing
    if (!s.ok()) return s;
    if (!existed) return NewLocalKek(KH_KEK_FILE, key.view());
    // Another process created it first: read theirs.
  }
  return Status(KH_E_IO);
}

StatusOr<std::shared_ptr<Kek>> OpenPkcs11(std::string_view attrs) {
  Pkcs11Spec spec;
  bool seen[4] = {false, false, false, false};
  while (!attrs.empty()) {
    const size_t semi = attrs.find(';');
    const std::string_view item = attrs.substr(0, semi);
    attrs = semi == std::string_view::npos ? std::string_view() : attrs.substr(semi + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Status(KH_E_INVALID_ARGUMENT);
    const std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    int slot = -1;
    std::string* dst = nullptr;
    if (name == "module") {
      slot = 0;
      dst = &spec.module;
    } else if (name == "token") {
      slot = 1;
      dst = &spec.token;
    } else if (name == "pin-env") {
      slot = 2;
      dst = &spec.pin_env;
    } else if (name == "key") {
      slot = 3;
      dst = &spec.key;
    } else {
      return Status(KH_E_INVALID_ARGUMENT);
    }
    if (seen[slot] || value.empty()) return Status(KH_E_INVALID_ARGUMENT);
    seen[slot] = true;
    *dst = std::string(value);
  }
  // An absolute module path: never a library found through a search path.
  if (spec.module.empty() || spec.module[0] != '/') return Status(KH_E_INVALID_ARGUMENT);
  if (spec.token.empty() || spec.token.size() > 32 || spec.key.empty() || spec.key.size() > 256) {
    return Status(KH_E_INVALID_ARGUMENT);
  }
  if (seen[2] && !ValidEnvName(spec.pin_env)) return Status(KH_E_INVALID_ARGUMENT);
  return OpenPkcs11Kek(spec);
}

// HomeDir: the keyhold home (core::KeyholdHome); not finding one means the
// default KEK cannot be reached.
Status HomeDir(std::string* out) {
  return core::KeyholdHome(out).ok() ? OkStatus() : Status(KH_E_KEK_UNAVAILABLE);
}

StatusOr<std::shared_ptr<Kek>> OpenDefault(std::string_view home) {
  const char* spec = GetEnv("KEYHOLD_KEK");
  if (spec != nullptr && *spec != '\0') {
    const std::string_view s(spec);
    if (s == "default") return Status(KH_E_INVALID_ARGUMENT);  // would name itself
    return OpenKek(s);
  }
  // The variable, read now, wins over the engine's configured home (which
  // holds a config file's [engine] home).
  const char* env_home = GetEnv("KEYHOLD_HOME");
  std::string dir;
  if (!home.empty() && (env_home == nullptr || *env_home == '\0')) {
    dir = home;
  } else {
    KH_RETURN_IF_ERROR(HomeDir(&dir));
  }
  // One level, private: the directory of the master key is nobody else's.
  if (::mkdir(dir.c_str(), S_IRWXU) != 0 && errno != EEXIST) return Status(KH_E_IO);
  return OpenFileKek(dir + "/master.key");
}

}  // namespace

Status DecodeHexKey(std::string_view hex, secmem::SecretBytes* out) {
  if (hex.size() != 2 * kDataKeyLen) return KH_E_INVALID_ARGUMENT;
  auto key = secmem::SecretBytes::Create(kDataKeyLen);
  if (!key.ok()) return KH_E_OUT_OF_MEMORY;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < kDataKeyLen; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return KH_E_INVALID_ARGUMENT;  // key is wiped by its destructor
    key.data()[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  *out = std::move(key);
  return OkStatus();
}

StatusOr<std::shared_ptr<Kek>> NewLocalKek(kh_kek_kind kind, ByteView key) {
  if (key.size() != kDataKeyLen || (kind != KH_KEK_FILE && kind != KH_KEK_ENV)) {
    return Status(KH_E_INVALID_ARGUMENT);
  }
  auto hkdf = kdf::NewHkdf(KH_ALG_HKDF_SHA256, key);
  if (!hkdf.ok()) return hkdf.status();
  auto wrap_key = secmem::SecretBytes::Create(kGcmKeyLen);
  if (!wrap_key.ok()) return Status(KH_E_OUT_OF_MEMORY);
  KH_RETURN_IF_ERROR((*hkdf)->Derive({}, Bytes(kWrapInfo), MutableBytes(wrap_key.data(), wrap_key.size())));
  keyset::Keyset::KekId id{};
  KH_RETURN_IF_ERROR((*hkdf)->Derive({}, Bytes(kIdInfo), MutableBytes(id.data(), id.size())));
  auto kek = std::make_shared<LocalKek>(kind, std::move(wrap_key));
  kek->set_id(id);
  return std::shared_ptr<Kek>(std::move(kek));
}

StatusOr<std::shared_ptr<Kek>> OpenKek(std::string_view spec, std::string_view home) {
  if (spec.empty() || spec.size() > 4096 || spec.find('\0') != std::string_view::npos) {
    return Status(KH_E_INVALID_ARGUMENT);
  }
  auto rest = [&](std::string_view prefix) { return spec.substr(prefix.size()); };
  if (spec == "default") return OpenDefault(home);
  if (spec.starts_with("file:")) return OpenFileKek(std::string(rest("file:")));
  if (spec.starts_with("env:")) return OpenEnvKek(rest("env:"));
  if (spec.starts_with("pkcs11:")) return OpenPkcs11(rest("pkcs11:"));
  return Status(KH_E_INVALID_ARGUMENT);
}

}  // namespace keyhold::keystore
