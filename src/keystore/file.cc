#include "keystore/file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "backend/openssl.h"

namespace keyhold::keystore {
namespace {

// Fd closes a descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) (void)::close(fd_);
  }
  int get() const { return fd_; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Close reports the result of close(2), which can be a delayed write
  // error on some file systems.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// OpenKeyFile opens path for reading and applies the checks of ReadKeyFile
// to the open file (fstat: no race with a rename between check and read).
Status OpenKeyFile(const std::string& path, size_t max, int* fd_out, size_t* size) {
  // O_NONBLOCK: a FIFO at the path must not hang the open; for a regular
  // file it changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? KH_E_NOT_FOUND : KH_E_IO;
  Fd guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return KH_E_IO;
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) return KH_E_INSECURE_FILE;
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max) return KH_E_TOO_LARGE;
  *size = static_cast<size_t>(st.st_size);
  *fd_out = guard.Release();
  return OkStatus();
}

// ReadAll reads until EOF into buf[0..cap); a file longer than cap (it grew
// since fstat) is KH_E_TOO_LARGE.
Status ReadAll(int fd, uint8_t* buf, size_t cap, size_t* len) {
  size_t n = 0;
  for (;;) {
    uint8_t probe = 0;
    uint8_t* dst = n < cap ? buf + n : &probe;
    const size_t want = n < cap ? cap - n : 1;
    const ssize_t r = ::read(fd, dst, want);
    if (r < 0) {
      if (errno == EINTR) continue;
      return KH_E_IO;
    }
    if (r == 0) break;
    if (n >= cap) return KH_E_TOO_LARGE;
    n += static_cast<size_t>(r);
  }
  *len = n;
  return OkStatus();
}

Status WriteAll(int fd, ByteView data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return KH_E_IO;
    }
    off += static_cast<size_t>(w);
  }
  return OkStatus();
}

// SplitPath returns the directory (for openat) and the final name of path.
Status SplitPath(const std::string& path, std::string* dir, std::string* name) {
  if (path.empty() || path.back() == '/') return KH_E_INVALID_ARGUMENT;
  const size_t slash = path.rfind('/');
  // Built with substr only: GCC 12 misreports -Wrestrict on assigning a
  // literal here.
  const std::string dot_slash = "./";
  if (slash == std::string::npos) {
    *dir = dot_slash.substr(0, 1);
    *name = path;
  } else {
    *dir = path.substr(0, slash == 0 ? 1 : slash);
    *name = path.substr(slash + 1);
  }
  if (*name == "." || *name == "..") return KH_E_INVALID_ARGUMENT;
  return OkStatus();
}

// WriteTemp creates ".<name>.tmp-<random>" in dirfd, 0600, holding data,
// fsync'ed and closed; *tmp receives its name.
Status WriteTemp(int dirfd, const std::string& name, ByteView data, std::string* tmp) {
  uint8_t rnd[8];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
    backend::ClearErrors();
    return KH_E_INTERNAL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  *tmp = "." + name + ".tmp-";
  for (const uint8_t b : rnd) {
    *tmp += kHex[b >> 4];
    *tmp += kHex[b & 0xF];
  }
  const int fd = ::openat(dirfd, tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return KH_E_IO;
  Fd file(fd);
  Status s = OkStatus();
  // The umask may have cleared bits of 0600 but never adds any; fchmod
  // makes the mode exact.
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) s = KH_E_IO;
  if (s.ok()) s = WriteAll(fd, data);
  if (s.ok() && ::fsync(fd) != 0) s = KH_E_IO;
  if (s.ok() && !file.Close()) s = KH_E_IO;
  if (!s.ok()) (void)::unlinkat(dirfd, tmp->c_str(), 0);
  return s;
}

}  // namespace

Status ReadKeyFile(const std::string& path, size_t max, std::vector<uint8_t>* out) {
  int fd = -1;
  size_t size = 0;
  KH_RETURN_IF_ERROR(OpenKeyFile(path, max, &fd, &size));
  Fd guard(fd);
  // Key files are replaced by rename, never rewritten in place: one that
  // grows while being read is refused.
  out->assign(size, 0);
  size_t n = 0;
  KH_RETURN_IF_ERROR(ReadAll(fd, out->data(), out->size(), &n));
  out->resize(n);
  return OkStatus();
}

Status ReadSmallKeyFile(const std::string& path, uint8_t* buf, size_t cap, size_t* len) {
  int fd = -1;
  size_t size = 0;
  KH_RETURN_IF_ERROR(OpenKeyFile(path, cap, &fd, &size));
  Fd guard(fd);
  return ReadAll(fd, buf, cap, len);
}

Status WriteFileAtomic(const std::string& path, ByteView data) {
  std::string dir, name, tmp;
  KH_RETURN_IF_ERROR(SplitPath(path, &dir, &name));
  const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return KH_E_IO;
  Fd d(dirfd);
  KH_RETURN_IF_ERROR(WriteTemp(dirfd, name, data, &tmp));
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    (void)::unlinkat(dirfd, tmp.c_str(), 0);
    return KH_E_IO;
  }
  // The rename is durable only once the directory is.
  if (::fsync(dirfd) != 0) return KH_E_IO;
  return OkStatus();
}

Status CreateFileExclusive(const std::string& path, ByteView data, bool* existed) {
  *existed = false;
  std::string dir, name, tmp;
  KH_RETURN_IF_ERROR(SplitPath(path, &dir, &name));
  const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return errno == ENOENT ? KH_E_NOT_FOUND : KH_E_IO;
  Fd d(dirfd);
  KH_RETURN_IF_ERROR(WriteTemp(dirfd, name, data, &tmp));
  // link(2), unlike rename(2), fails if the name exists: of two processes
  // creating the same key file at once, one wins and the other reads it.
  const int linked = ::linkat(dirfd, tmp.c_str(), dirfd, name.c_str(), 0);
  const int link_errno = errno;
  (void)::unlinkat(dirfd, tmp.c_str(), 0);
  if (linked != 0) {
    if (link_errno == EEXIST) {
      *existed = true;
      return OkStatus();
    }
    return KH_E_IO;
  }
  if (::fsync(dirfd) != 0) return KH_E_IO;
  return OkStatus();
}

Status AbsolutePath(const std::string& path, std::string* out) {
  if (path.empty()) return KH_E_INVALID_ARGUMENT;
  if (path.front() == '/') {
    *out = path;
    return OkStatus();
  }
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof(cwd)) == nullptr) return KH_E_IO;
  *out = std::string(cwd) + "/" + path;
  return OkStatus();
}

}  // namespace keyhold::keystore
