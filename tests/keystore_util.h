// Helpers shared by the keystore tests: temporary directories, KEKs, files.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace keyhold::testing {

// TempDir is a fresh private directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/keyhold-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  const std::string s = ReadFile(path);
  return {s.begin(), s.end()};
}

// WriteBytes writes a key file with mode 0600 (replacing any file there).
inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& b, mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
  ::close(fd);
}

inline mode_t FileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

inline kh_status OpenKek(kh_handle engine, const std::string& spec, kh_handle* kek) {
  return kh_kek_open(engine, spec.data(), spec.size(), kek);
}
inline kh_status Save(kh_handle ks, kh_handle kek, const std::string& path) {
  return kh_keyset_save_file(ks, kek, path.data(), path.size());
}
inline kh_status Load(kh_handle engine, kh_handle kek, const std::string& path, kh_handle* ks) {
  return kh_keyset_load_file(engine, kek, path.data(), path.size(), ks);
}

// FileInfo reads a keyset file's metadata.
inline kh_status FileInfo(const std::string& path, kh_keyset_file_info* info,
                          std::vector<kh_key_file_info>* keys) {
  size_t n = 0;
  kh_status s = kh_keyset_file_info_get(path.data(), path.size(), info, nullptr, 0, &n);
  if (s != KH_E_BUFFER_TOO_SMALL) return s;
  keys->resize(n);
  return kh_keyset_file_info_get(path.data(), path.size(), info, keys->data(), keys->size(), &n);
}

// KeyInfos returns every key's kh_key_info of a live keyset.
inline std::vector<kh_key_info> KeyInfos(kh_handle ks) {
  kh_keyset_info info{};
  EXPECT_EQ(kh_keyset_info_get(ks, &info), KH_OK);
  std::vector<kh_key_info> out(info.key_count);
  for (uint32_t i = 0; i < info.key_count; ++i) EXPECT_EQ(kh_keyset_key_info_get(ks, i, &out[i]), KH_OK);
  return out;
}

// HexKey is a 64-digit hex KEK for env: and file: KEKs.
inline std::string HexKey(uint8_t fill) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    const uint8_t b = static_cast<uint8_t>(fill + i);
    s += kHex[b >> 4];
    s += kHex[b & 0xF];
  }
  return s;
}

}  // namespace keyhold::testing
