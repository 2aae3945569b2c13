#include "keystore/pkcs11.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "backend/openssl.h"
#include "keystore/gcm.h"

namespace keyhold::keystore {
namespace {

constexpr std::string_view kIdInfo = "keyhold keyset v1 pkcs11 kek id";
constexpr size_t kWrappedLen = kDataKeyLen + kGcmTagLen;  // CKM_AES_GCM output: ciphertext || tag

// Modules: one dlopen and one C_Initialize per module path and process.
// C_Finalize runs when the last KEK of a module closes -- unless the
// module was already initialized by someone else in the process (then it
// is theirs to finalize). Modules are never dlclose'd: some do not survive
// being unloaded, and the handle costs nothing.
struct Module {
  void* dl = nullptr;
  CK_FUNCTION_LIST_PTR fl = nullptr;
  int refs = 0;
  bool ours = false;  // we called C_Initialize successfully
};

std::mutex& RegistryMu() {
  static auto* mu = new std::mutex;  // leaked: KEKs may close during static destruction
  return *mu;
}
std::map<std::string, Module>& Registry() {
  static auto* modules = new std::map<std::string, Module>;
  return *modules;
}

Status AcquireModule(const std::string& path, CK_FUNCTION_LIST_PTR* out) {
  std::lock_guard lock(RegistryMu());
  Module& m = Registry()[path];
  if (m.dl == nullptr) {
    m.dl = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (m.dl == nullptr) return KH_E_KEK_UNAVAILABLE;
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(m.dl, "C_GetFunctionList"));
    if (get == nullptr || get(&m.fl) != CKR_OK || m.fl == nullptr) {
      m.fl = nullptr;
      return KH_E_KEK_UNAVAILABLE;
    }
  }
  if (m.fl == nullptr) return KH_E_KEK_UNAVAILABLE;
  if (m.refs == 0) {
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = m.fl->C_Initialize(&args);
    if (rv == CKR_CANT_LOCK) rv = m.fl->C_Initialize(nullptr);
    if (rv == CKR_OK) {
      m.ours = true;
    } else if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      m.ours = false;
    } else {
      return KH_E_KEK_UNAVAILABLE;
    }
  }
  ++m.refs;
  *out = m.fl;
  return OkStatus();
}

void ReleaseModule(const std::string& path) {
  std::lock_guard lock(RegistryMu());
  Module& m = Registry()[path];
  if (m.refs > 0 && --m.refs == 0 && m.ours) {
    (void)m.fl->C_Finalize(nullptr);
    m.ours = false;
  }
}

// Gone: the token or the session went away, or the login ended -- the KEK
// is unavailable, which is not an authentication failure.
bool Gone(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_KEY_HANDLE_INVALID:
      return true;
    default:
      return false;
  }
}

std::string Trimmed(const CK_UTF8CHAR* padded, size_t n) {
  std::string s(reinterpret_cast<const char*>(padded), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

class Pkcs11Kek final : public Kek {
 public:
  Pkcs11Kek(std::string module, CK_FUNCTION_LIST_PTR fl) : module_(std::move(module)), fl_(fl) {}
  Pkcs11Kek(const Pkcs11Kek&) = delete;
  Pkcs11Kek& operator=(const Pkcs11Kek&) = delete;
  ~Pkcs11Kek() override {
    if (session_ != CK_INVALID_HANDLE) (void)fl_->C_CloseSession(session_);
    ReleaseModule(module_);
  }

  kh_kek_kind kind() const override { return KH_KEK_PKCS11; }
  WrapMethod method() const override { return WrapMethod::kTokenAesGcm; }

  Status Open(const Pkcs11Spec& spec);

  Status Wrap(ByteView data_key, ByteView aad, MutableBytes body) override {
    if (data_key.size() != kDataKeyLen || body.size() != kWrapBodyLen) return KH_E_INTERNAL;
    if (RAND_bytes(body.data(), kGcmNonceLen) != 1) {
      backend::ClearErrors();
      return KH_E_INTERNAL;
    }
    std::vector<uint8_t> aad_copy(aad.begin(), aad.end());  // the API takes non-const pointers
    std::vector<uint8_t> in(data_key.begin(), data_key.end());
    CK_GCM_PARAMS params{body.data(),     kGcmNonceLen,    8 * kGcmNonceLen,
                         aad_copy.data(), aad_copy.size(), 8 * kGcmTagLen};
    CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
    CK_ULONG out_len = kWrappedLen;
    std::lock_guard lock(mu_);
    CK_RV rv = fl_->C_EncryptInit(session_, &mech, key_);
    if (rv == CKR_OK)
      rv = fl_->C_Encrypt(session_, in.data(), in.size(), body.data() + kGcmNonceLen, &out_len);
    OPENSSL_cleanse(in.data(), in.size());
    if (rv != CKR_OK) return Gone(rv) ? KH_E_KEK_UNAVAILABLE : KH_E_INTERNAL;
    return out_len == kWrappedLen ? OkStatus() : Status(KH_E_INTERNAL);
  }

  Status Unwrap(ByteView body, ByteView aad, secmem::SecretBytes* data_key) override {
    if (body.size() != kWrapBodyLen) return KH_E_MALFORMED;
    std::vector<uint8_t> iv(body.begin(), body.begin() + kGcmNonceLen);
    std::vector<uint8_t> aad_copy(aad.begin(), aad.end());
    std::vector<uint8_t> in(body.begin() + kGcmNonceLen, body.end());
    CK_GCM_PARAMS params{iv.data(),       kGcmNonceLen,    8 * kGcmNonceLen,
                         aad_copy.data(), aad_copy.size(), 8 * kGcmTagLen};
    CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
    // Some tokens want room for the whole input before they strip the tag.
    auto out = secmem::SecretBytes::Create(kWrappedLen);
    if (!out.ok()) return KH_E_OUT_OF_MEMORY;
    CK_ULONG out_len = out.size();
    std::lock_guard lock(mu_);
    CK_RV rv = fl_->C_DecryptInit(session_, &mech, key_);
    if (rv == CKR_OK) rv = fl_->C_Decrypt(session_, in.data(), in.size(), out.data(), &out_len);
    if (rv != CKR_OK) return Gone(rv) ? KH_E_KEK_UNAVAILABLE : KH_E_AUTH_FAILED;
    if (out_len != kDataKeyLen) return KH_E_AUTH_FAILED;
    auto dk = secmem::SecretBytes::CopyOf(out.view().first(kDataKeyLen));
    if (!dk.ok()) return KH_E_OUT_OF_MEMORY;
    *data_key = std::move(dk);
    return OkStatus();
  }

 private:
  Status FindToken(const std::string& label, CK_SLOT_ID* slot, CK_TOKEN_INFO* info);
  Status FindOrCreateKey(const std::string& label, std::vector<uint8_t>* ck_id);
  Status GetBool(CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, bool* out);

  std::string module_;
  CK_FUNCTION_LIST_PTR fl_;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
  std::mutex mu_;  // one operation at a time on the session
};

Status Pkcs11Kek::FindToken(const std::string& label, CK_SLOT_ID* slot, CK_TOKEN_INFO* info) {
  CK_ULONG n = 0;
  if (fl_->C_GetSlotList(CK_TRUE, nullptr, &n) != CKR_OK) return KH_E_KEK_UNAVAILABLE;
  std::vector<CK_SLOT_ID> slots(n);
  if (n > 0 && fl_->C_GetSlotList(CK_TRUE, slots.data(), &n) != CKR_OK) return KH_E_KEK_UNAVAILABLE;
  slots.resize(n);
  int found = 0;
  for (const CK_SLOT_ID s : slots) {
    CK_TOKEN_INFO ti{};
    if (fl_->C_GetTokenInfo(s, &ti) != CKR_OK) continue;
    if (Trimmed(ti.label, sizeof(ti.label)) != label) continue;
    if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    ++found;
    *slot = s;
    *info = ti;
  }
  // Two tokens with one label: refusing beats guessing, since a guess
  // could wrap under a key the next run does not find.
  return found == 1 ? OkStatus() : Status(KH_E_KEK_UNAVAILABLE);
}

Status Pkcs11Kek::GetBool(CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, bool* out) {
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE a{type, &v, sizeof(v)};
  const CK_RV rv = fl_->C_GetAttributeValue(session_, obj, &a, 1);
  if (rv != CKR_OK) return Gone(rv) ? KH_E_KEK_UNAVAILABLE : KH_E_POLICY_DENIED;
  *out = v == CK_TRUE;
  return OkStatus();
}

Status Pkcs11Kek::FindOrCreateKey(const std::string& label, std::vector<uint8_t>* ck_id) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  std::vector<CK_UTF8CHAR> lbl(label.begin(), label.end());
  CK_ATTRIBUTE find[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_LABEL, lbl.data(), lbl.size()},
  };
  CK_OBJECT_HANDLE objs[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
  CK_ULONG n = 0;
  CK_RV rv = fl_->C_FindObjectsInit(session_, find, 3);
  if (rv != CKR_OK) return KH_E_KEK_UNAVAILABLE;
  rv = fl_->C_FindObjects(session_, objs, 2, &n);
  (void)fl_->C_FindObjectsFinal(session_);
  if (rv != CKR_OK || n > 1) return KH_E_KEK_UNAVAILABLE;  // two keys with one label: ambiguous
  if (n == 1) {
    key_ = objs[0];
    bool sensitive = false, extractable = true, enc = false, dec = false;
    KH_RETURN_IF_ERROR(GetBool(key_, CKA_SENSITIVE, &sensitive));
    KH_RETURN_IF_ERROR(GetBool(key_, CKA_EXTRACTABLE, &extractable));
    KH_RETURN_IF_ERROR(GetBool(key_, CKA_ENCRYPT, &enc));
    KH_RETURN_IF_ERROR(GetBool(key_, CKA_DECRYPT, &dec));
    CK_ULONG value_len = 0;
    CK_ATTRIBUTE len_attr{CKA_VALUE_LEN, &value_len, sizeof(value_len)};
    if (fl_->C_GetAttributeValue(session_, key_, &len_attr, 1) != CKR_OK) return KH_E_POLICY_DENIED;
    // A KEK that could leave the token is not the KEK this option promises.
    if (!sensitive || extractable || !enc || !dec || value_len != kDataKeyLen) return KH_E_POLICY_DENIED;
    CK_ATTRIBUTE id_attr{CKA_ID, nullptr, 0};
    if (fl_->C_GetAttributeValue(session_, key_, &id_attr, 1) == CKR_OK && id_attr.ulValueLen > 0 &&
        id_attr.ulValueLen <= 1024) {
      ck_id->resize(id_attr.ulValueLen);
      id_attr.pValue = ck_id->data();
      if (fl_->C_GetAttributeValue(session_, key_, &id_attr, 1) != CKR_OK) ck_id->clear();
    }
    return OkStatus();
  }
  // Missing: generate it inside the token, never to leave it.
  ck_id->resize(16);
  if (RAND_bytes(ck_id->data(), static_cast<int>(ck_id->size())) != 1) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG value_len = kDataKeyLen;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof(cls)},      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_TOKEN, &yes, sizeof(yes)},      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},  {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},    {CKA_DECRYPT, &yes, sizeof(yes)},
      {CKA_WRAP, &no, sizeof(no)},         {CKA_UNWRAP, &no, sizeof(no)},
      {CKA_SIGN, &no, sizeof(no)},         {CKA_VERIFY, &no, sizeof(no)},
      {CKA_DERIVE, &no, sizeof(no)},       {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      {CKA_LABEL, lbl.data(), lbl.size()}, {CKA_ID, ck_id->data(), ck_id->size()},
  };
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  rv = fl_->C_GenerateKey(session_, &gen, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &key_);
  if (rv != CKR_OK) return KH_E_KEK_UNAVAILABLE;
  return OkStatus();
}

Status Pkcs11Kek::Open(const Pkcs11Spec& spec) {
  CK_SLOT_ID slot = 0;
  CK_TOKEN_INFO info{};
  KH_RETURN_IF_ERROR(FindToken(spec.token, &slot, &info));
  if (fl_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session_) != CKR_OK) {
    session_ = CK_INVALID_HANDLE;
    return KH_E_KEK_UNAVAILABLE;
  }
  if (!spec.pin_env.empty()) {
    const char* pin = std::getenv(spec.pin_env.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (pin == nullptr || *pin == '\0') return KH_E_KEK_UNAVAILABLE;
    auto copy =
        secmem::SecretBytes::CopyOf(ByteView(reinterpret_cast<const uint8_t*>(pin), std::strlen(pin)));
    if (!copy.ok()) return KH_E_OUT_OF_MEMORY;
    const CK_RV rv = fl_->C_Login(session_, CKU_USER, copy.data(), copy.size());
    // Already logged in: another KEK of this process opened the token.
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return KH_E_KEK_UNAVAILABLE;
  }
  std::vector<uint8_t> ck_id;
  KH_RETURN_IF_ERROR(FindOrCreateKey(spec.key, &ck_id));

  // The identity names this key object: token serial and label, key label
  // and CKA_ID. Hashed, so the id reveals nothing about the token.
  backend::MdCtxPtr md(EVP_MD_CTX_new());
  uint8_t digest[32];
  unsigned digest_len = 0;
  const uint8_t zero = 0;
  auto update = [&](const void* p, size_t n) { return EVP_DigestUpdate(md.get(), p, n) == 1; };
  const bool ok = md && EVP_DigestInit_ex(md.get(), backend::Fetched().sha256, nullptr) == 1 &&
                  update(kIdInfo.data(), kIdInfo.size()) && update(&zero, 1) &&
                  update(info.serialNumber, sizeof(info.serialNumber)) &&
                  update(info.label, sizeof(info.label)) && update(spec.key.data(), spec.key.size()) &&
                  update(&zero, 1) && update(ck_id.data(), ck_id.size()) &&
                  EVP_DigestFinal_ex(md.get(), digest, &digest_len) == 1;
  if (!ok) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  std::memcpy(id_.data(), digest, id_.size());
  return OkStatus();
}

}  // namespace

StatusOr<std::shared_ptr<Kek>> OpenPkcs11Kek(const Pkcs11Spec& spec) {
  CK_FUNCTION_LIST_PTR fl = nullptr;
  KH_RETURN_IF_ERROR(AcquireModule(spec.module, &fl));
  // From here the KEK owns the module reference (its destructor releases it).
  auto kek = std::make_shared<Pkcs11Kek>(spec.module, fl);
  KH_RETURN_IF_ERROR(kek->Open(spec));
  return std::shared_ptr<Kek>(std::move(kek));
}

}  // namespace keyhold::keystore
