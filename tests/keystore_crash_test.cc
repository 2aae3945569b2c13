// Crash safety of keyset files: a child process rotates and saves a keyset
// in a loop and is killed with SIGKILL at a random moment, over and over.
// After every kill the file must load, and be the version before the
// interrupted save or the one after it -- never a broken file, never an
// older version.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "keystore_util.h"

namespace keyhold {
namespace {

using testing::FileInfo;
using testing::KeyInfos;
using testing::Load;
using testing::OpenKek;
using testing::Save;
using testing::TempDir;

// Child: load, rotate, encrypt with the new key (which first writes the
// new key to the file: a reservation), save; one byte down the pipe after
// each save returns. Never returns.
[[noreturn]] void RotateForever(const std::string& kek_spec, const std::string& path, int pipe_fd) {
  kh_handle engine = 0, kek = 0;
  if (kh_engine_open(&engine) != KH_OK || OpenKek(engine, kek_spec, &kek) != KH_OK) _exit(2);
  const uint8_t msg[4] = {1, 2, 3, 4};
  for (;;) {
    kh_handle ks = 0;
    uint32_t id = 0;
    uint8_t ct[64];
    size_t n = 0;
    if (Load(engine, kek, path, &ks) != KH_OK) _exit(3);
    if (kh_keyset_rotate(ks, &id) != KH_OK) _exit(4);
    if (kh_aead_encrypt(ks, msg, sizeof(msg), nullptr, 0, ct, sizeof(ct), &n) != KH_OK) _exit(5);
    if (Save(ks, kek, path) != KH_OK) _exit(6);
    const char done = 1;
    if (::write(pipe_fd, &done, 1) != 1) _exit(7);
    if (kh_handle_close(ks) != KH_OK) _exit(8);
  }
}

TEST(KeystoreCrash, AKilledWriterLeavesTheOldOrTheNewKeysetNeverABrokenOne) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string spec = "file:" + dir / "master.key";
  const std::string path = dir / "crash.keyset";
  kh_handle engine = 0, kek = 0;
  ASSERT_EQ(kh_engine_open(&engine), KH_OK);
  ASSERT_EQ(OpenKek(engine, spec, &kek), KH_OK);
  // A fresh keyset with one key, and a ciphertext from it that every later
  // version must still open.
  const uint8_t msg[4] = {9, 9, 9, 9};
  uint8_t first_ct[64], pt[64];
  size_t first_len = 0, n = 0;
  auto fresh = [&] {
    kh_handle ks = 0;
    ASSERT_EQ(kh_keyset_generate(engine, KH_ALG_AES256_GCM, 0, &ks), KH_OK);
    ASSERT_EQ(kh_aead_encrypt(ks, msg, sizeof(msg), nullptr, 0, first_ct, sizeof(first_ct), &first_len),
              KH_OK);
    ASSERT_EQ(Save(ks, kek, path), KH_OK);
    ASSERT_EQ(kh_handle_close(ks), KH_OK);
  };
  fresh();

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_us(0, 30000);
  size_t keys = 1;
  int kills = 0, completed_saves = 0, mid_save = 0;
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RotateForever(spec, path, fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the child stopped by itself, status " << WEXITSTATUS(wstatus);
    ++kills;
    size_t saves = 0;
    char buf[256];
    ssize_t r = 0;
    while ((r = ::read(fds[0], buf, sizeof(buf))) > 0) saves += static_cast<size_t>(r);
    ::close(fds[0]);
    completed_saves += static_cast<int>(saves);

    // The file loads, and has the keys of a completed save or of the one
    // that was under way (each loop adds one key; the reservation written
    // before the encryption already holds it).
    kh_handle loaded = 0;
    ASSERT_EQ(Load(engine, kek, path, &loaded), KH_OK) << "round " << round;
    const size_t now = KeyInfos(loaded).size();
    ASSERT_TRUE(now == keys + saves || now == keys + saves + 1)
        << "round " << round << ": " << now << " keys, expected " << keys + saves << " or "
        << keys + saves + 1;
    if (now == keys + saves + 1) ++mid_save;
    EXPECT_EQ(kh_aead_decrypt(loaded, first_ct, first_len, nullptr, 0, pt, sizeof(pt), &n), KH_OK);
    keys = now;
    ASSERT_EQ(kh_handle_close(loaded), KH_OK);
    // Keep the keyset well under the 1024-key limit.
    if (keys > 400) {
      fresh();
      keys = 1;
    }
  }
  // Temporary files left by writers killed between creating and renaming
  // them: evidence that kills landed mid-write.
  int leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind(".crash.keyset.tmp-", 0) == 0) ++leftovers;
  }
  std::printf(
      "keystore crash: %d kills, %d completed saves, %d kills after the new file was in place, "
      "%d kills mid-write (temporary files left)\n",
      kills, completed_saves, mid_save, leftovers);
  EXPECT_GT(completed_saves, 0) << "the child never finished a save: the kills tested nothing";
  // Leftover temporary files of killed writers are private and ignored.
  kh_keyset_file_info info{};
  std::vector<kh_key_file_info> key_infos;
  EXPECT_EQ(FileInfo(path, &info, &key_infos), KH_OK);
  ASSERT_EQ(kh_handle_close(kek), KH_OK);
  ASSERT_EQ(kh_engine_close(engine), KH_OK);
}

}  // namespace
}  // namespace keyhold
