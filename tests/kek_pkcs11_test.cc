// PKCS#11 KEKs against a real token: SoftHSM2 (Debian softhsm2), with a
// token this test initialises in its own directory (SOFTHSM2_CONF,
// softhsm2-util --init-token). The test also opens the module itself to
// check what keyhold promises about the key: created inside the token,
// sensitive, not extractable, never readable.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "keystore_util.h"

namespace keyhold {
namespace {

using testing::FileInfo;
using testing::Load;
using testing::OpenKek;
using testing::ReadBytes;
using testing::Save;
using testing::TempDir;
using testing::WriteBytes;

constexpr char kToken[] = "keyhold-test";
constexpr char kPin[] = "5678";

// SoftHsmModule: KEYHOLD_SOFTHSM2_MODULE, or Debian's locations.
std::string SoftHsmModule() {
  const char* env = std::getenv("KEYHOLD_SOFTHSM2_MODULE");  // NOLINT(concurrency-mt-unsafe)
  if (env != nullptr && *env != '\0') return env;
  for (const char* p : {"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"}) {
    if (::access(p, R_OK) == 0) return p;
  }
  return "";
}

class Pkcs11Test : public testing::EngineFixture {
 protected:
  // One token per test process (ctest runs each test in its own process).
  static void SetUpTestSuite() {
    module_ = new std::string(SoftHsmModule());
    dir_ = new TempDir();
    if (module_->empty()) return;
    const std::string tokens = *dir_ / "tokens";
    ::mkdir(tokens.c_str(), 0700);
    std::ofstream(*dir_ / "softhsm2.conf")
        << "directories.tokendir = " << tokens << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", (*dir_ / "softhsm2.conf").c_str(), 1);
    ::setenv("KH_TEST_PIN", kPin, 1);
    const std::string init = std::string("softhsm2-util --init-token --free --label ") + kToken +
                             " --so-pin 1234 --pin " + kPin + " >/dev/null 2>&1";
    initialized_ = std::system(init.c_str()) == 0;  // NOLINT(cert-env33-c)
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete module_;
  }
  void SetUp() override {
    // A missing SoftHSM2 is a broken test machine, not a pass: install it
    // with scripts/install-deps (the core list names softhsm2).
    ASSERT_FALSE(module_->empty()) << "SoftHSM2 not found: run scripts/install-deps (package softhsm2)";
    ASSERT_TRUE(initialized_) << "softhsm2-util --init-token failed";
    EngineFixture::SetUp();
  }
  void TearDown() override {
    for (kh_handle h : close_) (void)kh_handle_close(h);
    EngineFixture::TearDown();
  }
  std::string Spec(const std::string& key, const std::string& extra = ";pin-env=KH_TEST_PIN") const {
    return "pkcs11:module=" + *module_ + ";token=" + kToken + extra + ";key=" + key;
  }
  kh_handle MustOpen(const std::string& spec) {
    kh_handle k = 0;
    EXPECT_EQ(OpenKek(engine_, spec, &k), KH_OK) << spec;
    close_.push_back(k);
    return k;
  }
  kh_handle Owned(kh_handle h) {
    close_.push_back(h);
    return h;
  }

  static std::string* module_;
  static TempDir* dir_;
  static bool initialized_;
  std::vector<kh_handle> close_;
};

std::string* Pkcs11Test::module_ = nullptr;
TempDir* Pkcs11Test::dir_ = nullptr;
bool Pkcs11Test::initialized_ = false;

std::vector<uint8_t> Encrypt(kh_handle ks) {
  std::vector<uint8_t> out(64);
  size_t n = 0;
  EXPECT_EQ(kh_aead_encrypt(ks, nullptr, 0, nullptr, 0, out.data(), out.size(), &n), KH_OK);
  out.resize(n);
  return out;
}

kh_status Decrypt(kh_handle ks, const std::vector<uint8_t>& ct) {
  std::vector<uint8_t> out(64);
  size_t n = 0;
  return kh_aead_decrypt(ks, ct.data(), ct.size(), nullptr, 0, out.data(), out.size(), &n);
}

TEST_F(Pkcs11Test, AKeysetRoundTripsThroughTheToken) {
  const std::string path = *dir_ / "hsm.keyset";
  const kh_handle kek = MustOpen(Spec("kek-roundtrip"));
  uint32_t kind = 0;
  ASSERT_EQ(kh_kek_kind_get(kek, &kind), KH_OK);
  EXPECT_EQ(kind, static_cast<uint32_t>(KH_KEK_PKCS11));
  const kh_handle ks = Owned(Generate(KH_ALG_AES256_GCM));
  const std::vector<uint8_t> ct = Encrypt(ks);
  ASSERT_EQ(Save(ks, kek, path), KH_OK);
  kh_keyset_file_info info{};
  std::vector<kh_key_file_info> keys;
  ASSERT_EQ(FileInfo(path, &info, &keys), KH_OK);
  EXPECT_EQ(info.kek_kind, static_cast<uint32_t>(KH_KEK_PKCS11));

  kh_handle loaded = 0;
  ASSERT_EQ(Load(engine_, kek, path, &loaded), KH_OK);
  Owned(loaded);
  EXPECT_EQ(Decrypt(loaded, ct), KH_OK);
  // Use reservations go through the token too.
  EXPECT_EQ(Decrypt(loaded, Encrypt(loaded)), KH_OK);

  // Every KEK of the module closed: keyhold finalizes it; opening again
  // initialises it again and finds the same key.
  for (kh_handle h : close_) (void)kh_handle_close(h);
  close_.clear();
  const kh_handle again = MustOpen(Spec("kek-roundtrip"));
  ASSERT_EQ(Load(engine_, again, path, &loaded), KH_OK);
  Owned(loaded);
  EXPECT_EQ(Decrypt(loaded, ct), KH_OK);
  // Two KEK handles on one token at once, and a save under the second is
  // not an export (same key).
  const kh_handle second = MustOpen(Spec("kek-roundtrip"));
  EXPECT_EQ(Save(loaded, second, *dir_ / "hsm2.keyset"), KH_OK);
}

TEST_F(Pkcs11Test, TheKeyIsCreatedInsideTheTokenAndNeverLeavesIt) {
  (void)MustOpen(Spec("kek-inspect"));  // creates the key; the module stays initialised
  void* dl = ::dlopen(module_->c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(dl, nullptr);
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(dl, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR fl = nullptr;
  ASSERT_EQ(get(&fl), CKR_OK);
  // keyhold initialised the module; a second initialiser is told so.
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  ASSERT_EQ(fl->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
  CK_ULONG n = 8;
  CK_SLOT_ID slots[8];
  ASSERT_EQ(fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_SLOT_ID slot = 0;
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO ti{};
    if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
        std::string(reinterpret_cast<char*>(ti.label), 12) == kToken) {
      slot = slots[i];
    }
  }
  ASSERT_EQ(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session), CKR_OK);
  CK_UTF8CHAR pin[] = {'5', '6', '7', '8'};
  const CK_RV login = fl->C_Login(session, CKU_USER, pin, sizeof(pin));
  ASSERT_TRUE(login == CKR_OK || login == CKR_USER_ALREADY_LOGGED_IN);

  std::string label = "kek-inspect";
  CK_ATTRIBUTE find[] = {{CKA_LABEL, label.data(), label.size()}};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  ASSERT_EQ(fl->C_FindObjectsInit(session, find, 1), CKR_OK);
  ASSERT_EQ(fl->C_FindObjects(session, &key, 1, &n), CKR_OK);
  ASSERT_EQ(fl->C_FindObjectsFinal(session), CKR_OK);
  ASSERT_EQ(n, 1u);
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, token = CK_FALSE;
  CK_ULONG len = 0;
  CK_ATTRIBUTE attrs[] = {{CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
                          {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
                          {CKA_TOKEN, &token, sizeof(token)},
                          {CKA_VALUE_LEN, &len, sizeof(len)}};
  ASSERT_EQ(fl->C_GetAttributeValue(session, key, attrs, 4), CKR_OK);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(token, CK_TRUE);
  EXPECT_EQ(len, 32u);
  uint8_t value[32];
  CK_ATTRIBUTE value_attr{CKA_VALUE, value, sizeof(value)};
  EXPECT_EQ(fl->C_GetAttributeValue(session, key, &value_attr, 1), CKR_ATTRIBUTE_SENSITIVE);

  // A key that could leave the token is refused as a KEK.
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG value_len = 32;
  std::string weak = "kek-weak";
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
                         {CKA_TOKEN, &yes, sizeof(yes)},       {CKA_SENSITIVE, &no, sizeof(no)},
                         {CKA_EXTRACTABLE, &yes, sizeof(yes)}, {CKA_ENCRYPT, &yes, sizeof(yes)},
                         {CKA_DECRYPT, &yes, sizeof(yes)},     {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
                         {CKA_LABEL, weak.data(), weak.size()}};
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE weak_key = CK_INVALID_HANDLE;
  ASSERT_EQ(fl->C_GenerateKey(session, &gen, tmpl, 9, &weak_key), CKR_OK);
  kh_handle k = 0;
  EXPECT_EQ(OpenKek(engine_, Spec("kek-weak"), &k), KH_E_POLICY_DENIED);
  EXPECT_EQ(k, 0u);
  // Two keys under one label: ambiguous, refused rather than guessed.
  CK_OBJECT_HANDLE dup = CK_INVALID_HANDLE;
  ASSERT_EQ(fl->C_GenerateKey(session, &gen, tmpl, 9, &dup), CKR_OK);
  EXPECT_EQ(OpenKek(engine_, Spec("kek-weak"), &k), KH_E_KEK_UNAVAILABLE);
  EXPECT_EQ(fl->C_CloseSession(session), CKR_OK);
  // No C_Finalize: the module is keyhold's (it initialised it).
}

TEST_F(Pkcs11Test, AnUnreachableTokenIsKekUnavailable) {
  kh_handle k = 0;
  ::setenv("KH_TEST_WRONG_PIN", "0000", 1);
  EXPECT_EQ(OpenKek(engine_, Spec("kek-x", ";pin-env=KH_TEST_WRONG_PIN"), &k), KH_E_KEK_UNAVAILABLE);
  ::unsetenv("KH_TEST_NO_PIN");
  EXPECT_EQ(OpenKek(engine_, Spec("kek-x", ";pin-env=KH_TEST_NO_PIN"), &k), KH_E_KEK_UNAVAILABLE);
  // Without a login the token offers no private objects to find or make.
  EXPECT_EQ(OpenKek(engine_, Spec("kek-x", ""), &k), KH_E_KEK_UNAVAILABLE);
  EXPECT_EQ(
      OpenKek(engine_, "pkcs11:module=" + *module_ + ";token=no-such-token;pin-env=KH_TEST_PIN;key=k", &k),
      KH_E_KEK_UNAVAILABLE);
  EXPECT_EQ(OpenKek(engine_, "pkcs11:module=/nonexistent/libpkcs11.so;token=t;pin-env=KH_TEST_PIN;key=k", &k),
            KH_E_KEK_UNAVAILABLE);
  EXPECT_EQ(k, 0u);
  // The right PIN still works after the wrong one.
  (void)MustOpen(Spec("kek-x"));
}

TEST_F(Pkcs11Test, AnotherKeyOrAlteredWrappingIsAnAuthenticationFailure) {
  const std::string path = *dir_ / "auth.keyset";
  const kh_handle a = MustOpen(Spec("kek-a"));
  const kh_handle b = MustOpen(Spec("kek-b"));
  const kh_handle ks = Owned(Generate(KH_ALG_HMAC_SHA256));
  ASSERT_EQ(Save(ks, a, path), KH_OK);
  kh_handle loaded = 0;
  EXPECT_EQ(Load(engine_, b, path, &loaded), KH_E_AUTH_FAILED);
  kh_handle file_kek = 0;
  ASSERT_EQ(OpenKek(engine_, "file:" + *dir_ / "master.key", &file_kek), KH_OK);
  Owned(file_kek);
  EXPECT_EQ(Load(engine_, file_kek, path, &loaded), KH_E_AUTH_FAILED);
  // A non-exportable keyset stays with its token key.
  EXPECT_EQ(Save(ks, b, *dir_ / "other.keyset"), KH_E_NOT_EXPORTABLE);
  // Every byte of the token's wrapping (IV, wrapped key, tag) is checked
  // by the token.
  const std::vector<uint8_t> file = ReadBytes(path);
  const size_t wrap_body = 9 + 31 + 23 + 2 + 1;
  for (size_t i = wrap_body; i < wrap_body + 60; i += 7) {
    std::vector<uint8_t> f = file;
    f[i] ^= 0x10;
    kh_handle imported = 0;
    EXPECT_EQ(kh_keyset_import_wrapped(engine_, a, f.data(), f.size(), &imported), KH_E_AUTH_FAILED) << i;
  }
  ASSERT_EQ(Load(engine_, a, path, &loaded), KH_OK);
  Owned(loaded);
}

}  // namespace
}  // namespace keyhold
