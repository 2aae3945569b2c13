#include "audit/log_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "keystore/file.h"

namespace keyhold::audit {
namespace {

constexpr size_t kKeyLen = 32;
// kMaxTail: the longest record the tail reader accepts (records are far
// shorter: spec section 2 bounds every field).
constexpr size_t kMaxTail = size_t{64} * 1024;
constexpr std::string_view kMacField = ",\"mac\":\"";
// kCommonMax bounds a record's common fields, kCheckpointMax a whole
// checkpoint: rotation leaves room for the record and the checkpoint that
// may follow it, so no file outgrows max_bytes_.
constexpr size_t kCommonMax = 192;
constexpr size_t kCheckpointMax = 320;

std::array<uint8_t, 32> Sha256(std::string_view s) {
  std::array<uint8_t, 32> h{};
  unsigned int n = 0;
  if (EVP_Digest(s.data(), s.size(), h.data(), &n, EVP_sha256(), nullptr) != 1 || n != h.size()) {
    // SHA-256 of memory cannot fail once the self-test passed; a zero hash
    // would show as a chain break, never as a valid record.
    h.fill(0);
  }
  return h;
}

// FlockGuard holds an exclusive flock for its lifetime.
class FlockGuard {
 public:
  explicit FlockGuard(int fd) : fd_(fd) {
    while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        fd_ = -1;
        break;
      }
    }
  }
  ~FlockGuard() {
    if (fd_ >= 0) (void)::flock(fd_, LOCK_UN);
  }
  FlockGuard(const FlockGuard&) = delete;
  FlockGuard& operator=(const FlockGuard&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return KH_E_IO;
    off += static_cast<size_t>(n);
  }
  return OkStatus();
}

// OpenPrivate opens (creating 0600) a file that must be a regular file
// granting nothing to group or others.
Status OpenPrivate(const std::string& path, int flags, int* out) {
  const int fd = ::open(path.c_str(), flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, S_IRUSR | S_IWUSR);
  if (fd < 0) return KH_E_IO;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    (void)::close(fd);
    return KH_E_IO;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    (void)::close(fd);
    return KH_E_INSECURE_FILE;
  }
  *out = fd;
  return OkStatus();
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string Hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(b.size() * 2, '0');
  for (size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = kDigits[b[i] >> 4];
    s[2 * i + 1] = kDigits[b[i] & 15];
  }
  return s;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      // Non-ASCII is escaped byte by byte: records stay 7-bit and a stray
      // byte can never form an invalid UTF-8 sequence in the log.
      char buf[8];
      (void)std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

std::string NowRfc3339() {
  struct timespec ts {};
  (void)::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  (void)::gmtime_r(&ts.tv_sec, &tm);
  char buf[128];
  (void)std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      static_cast<long>(ts.tv_nsec / 1000));
  return buf;
}

LogFile::LogFile(std::string path, std::string key_path, bool syslog, uint64_t max_bytes)
    : path_(std::move(path)), key_path_(std::move(key_path)), syslog_(syslog), max_bytes_(max_bytes) {
  if (syslog_) ::openlog("keyhold-audit", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

LogFile::~LogFile() {
  const std::lock_guard<std::mutex> l(mu_);
  CloseFdLocked();
  if (lock_fd_ >= 0) (void)::close(lock_fd_);
  if (syslog_) ::closelog();
}

void LogFile::CloseFdLocked() {
  if (fd_ >= 0) (void)::close(fd_);
  fd_ = -1;
  known_size_ = -1;
}

bool LogFile::broken() const {
  const std::lock_guard<std::mutex> l(mu_);
  return broken_;
}

uint64_t LogFile::last_seq() const {
  const std::lock_guard<std::mutex> l(mu_);
  return seq_;
}

Status LogFile::Append(const std::vector<std::string>& bodies, bool checkpoint, uint32_t checkpoint_every) {
  const std::lock_guard<std::mutex> l(mu_);
  Status s = AppendLocked(bodies, checkpoint, checkpoint_every);
  broken_ = !s.ok();
  return s;
}

Status LogFile::AppendLocked(const std::vector<std::string>& bodies, bool checkpoint,
                             uint32_t checkpoint_every) {
  if (path_.empty()) {
    for (const auto& b : bodies) KH_RETURN_IF_ERROR(WriteLineLocked(b));
    return OkStatus();
  }
  if (lock_fd_ < 0) {
    // The directory (KEYHOLD_HOME by default) is private, like the
    // keystore's: one level, created 0700 when missing.
    const std::string dir = DirOf(path_);
    if (::mkdir(dir.c_str(), S_IRWXU) != 0 && errno != EEXIST) return KH_E_IO;
    KH_RETURN_IF_ERROR(OpenPrivate(path_ + ".lock", O_RDWR, &lock_fd_));
  }
  const FlockGuard lock(lock_fd_);
  if (!lock.ok()) return KH_E_IO;
  KH_RETURN_IF_ERROR(SyncLocked());
  const int64_t start = known_size_;
  const uint64_t seq0 = seq_;
  const auto prev0 = prev_;
  const bool last_cp0 = last_is_checkpoint_;
  const uint32_t since0 = since_checkpoint_;
  const uint64_t rotations0 = rotations_;
  Status s = OkStatus();
  for (const auto& b : bodies) {
    if (max_bytes_ != 0 && known_size_ > 0 &&
        static_cast<uint64_t>(known_size_) + b.size() + kCommonMax + kCheckpointMax > max_bytes_) {
      s = RotateLocked();
      if (!s.ok()) break;
    }
    s = WriteLineLocked(b);
    if (!s.ok()) break;
    if (since_checkpoint_ >= checkpoint_every) {
      s = WriteCheckpointLocked();
      if (!s.ok()) break;
    }
  }
  if (s.ok() && checkpoint && !last_is_checkpoint_) s = WriteCheckpointLocked();
  if (!s.ok() && fd_ >= 0 && rotations_ == rotations0 && start >= 0) {
    // Cut off what this call wrote, so the file never ends in half a
    // record, and forget the chain state it advanced. (A rotation that
    // already happened stays: the new file starts from the old one's end.)
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && st.st_size >= start) (void)::ftruncate(fd_, start);
    seq_ = seq0;
    prev_ = prev0;
    last_is_checkpoint_ = last_cp0;
    since_checkpoint_ = since0;
    CloseFdLocked();
  }
  return s;
}

// SyncLocked (re)opens the log if it is not open or was replaced (another
// process rotated it) and rereads the chain state if another process
// appended since this one last wrote.
Status LogFile::SyncLocked() {
  struct stat path_st {};
  const bool exists = ::stat(path_.c_str(), &path_st) == 0;
  if (fd_ >= 0) {
    struct stat fd_st {};
    if (!exists || ::fstat(fd_, &fd_st) != 0 || fd_st.st_ino != path_st.st_ino ||
        fd_st.st_dev != path_st.st_dev) {
      CloseFdLocked();
    }
  }
  if (fd_ < 0) KH_RETURN_IF_ERROR(OpenPrivate(path_, O_WRONLY | O_APPEND, &fd_));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return KH_E_IO;
  if (st.st_size != known_size_) KH_RETURN_IF_ERROR(ReadTailLocked(static_cast<uint64_t>(st.st_size)));
  known_size_ = st.st_size;
  return OkStatus();
}

// ReadTailLocked takes the chain state from the file's last record.
Status LogFile::ReadTailLocked(uint64_t size) {
  if (size == 0) {
    // A new chain (spec section 3.1). If the file was emptied behind
    // keyhold's back, the head file still names the lost checkpoint.
    seq_ = 0;
    prev_.fill(0);
    last_is_checkpoint_ = true;
    since_checkpoint_ = 0;
    return OkStatus();
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) return KH_E_IO;
  const uint64_t n = std::min<uint64_t>(size, kMaxTail);
  std::string buf(n, '\0');
  ssize_t got = 0;
  do {
    got = ::pread(fd, buf.data(), n, static_cast<off_t>(size - n));
  } while (got < 0 && errno == EINTR);
  (void)::close(fd);
  if (got != static_cast<ssize_t>(n)) return KH_E_IO;
  // The file must end with a complete record; a torn or foreign last line
  // makes the sink fail (spec section 6): appending after it would hide
  // the damage in the middle of the chain.
  if (buf.back() != '\n') return KH_E_IO;
  const size_t end = buf.size() - 1;
  const size_t nl = end == 0 ? std::string::npos : buf.rfind('\n', end - 1);
  if (nl == std::string::npos && n != size) return KH_E_IO;
  const std::string_view line(buf.data() + (nl == std::string::npos ? 0 : nl + 1),
                              end - (nl == std::string::npos ? 0 : nl + 1));
  static constexpr std::string_view kSeq = "{\"v\":1,\"seq\":";
  if (line.substr(0, kSeq.size()) != kSeq) return KH_E_IO;
  uint64_t seq = 0;
  size_t i = kSeq.size();
  if (i >= line.size() || line[i] < '0' || line[i] > '9') return KH_E_IO;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    if (seq > (UINT64_MAX - 9) / 10) return KH_E_IO;
    seq = seq * 10 + static_cast<uint64_t>(line[i] - '0');
  }
  seq_ = seq;
  prev_ = Sha256(line);
  last_is_checkpoint_ = line.find("\"type\":\"checkpoint\"") != std::string_view::npos;
  since_checkpoint_ = last_is_checkpoint_ ? 0 : 1;
  return OkStatus();
}

// WriteLineLocked completes body into a record (spec section 2), chains it
// and writes it.
Status LogFile::WriteLineLocked(const std::string& body) {
  std::string line;
  line.reserve(160 + body.size());
  char head[64];
  (void)std::snprintf(head, sizeof head, "{\"v\":1,\"seq\":%" PRIu64 ",\"time\":", seq_ + 1);
  line.append(head);
  AppendJsonString(&line, NowRfc3339());
  line.append(",\"prev\":\"").append(Hex(prev_)).append("\",\"pid\":");
  line.append(std::to_string(::getpid())).push_back(',');
  line.append(body);
  // A checkpoint's MAC covers everything before its own field (spec 3.2).
  const bool cp = body.rfind("\"type\":\"checkpoint\"", 0) == 0;
  if (cp) {
    if (key_.size() != kKeyLen) return KH_E_IO;
    std::array<uint8_t, 32> mac{};
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
             reinterpret_cast<const uint8_t*>(line.data()), line.size(), mac.data(), &mac_len) == nullptr ||
        mac_len != mac.size()) {
      return KH_E_IO;
    }
    line.append(kMacField).append(Hex(mac)).push_back('"');
  }
  line.push_back('}');
  if (fd_ >= 0) {
    line.push_back('\n');
    const Status s = WriteAll(fd_, line);
    line.pop_back();
    if (!s.ok()) return s;
    known_size_ += static_cast<int64_t>(line.size() + 1);
  }
  if (syslog_) ::syslog(LOG_AUTHPRIV | LOG_INFO, "%s", line.c_str());
  ++seq_;
  prev_ = Sha256(line);
  last_is_checkpoint_ = cp;
  since_checkpoint_ = cp ? 0 : since_checkpoint_ + 1;
  if (cp && fd_ >= 0) {
    // The head file (spec section 3.3) names the newest checkpoint, so
    // cutting the log short of it is detectable. The log is synced first:
    // the head never names a record that is not on disk.
    if (::fdatasync(fd_) != 0) return KH_E_IO;
    line.push_back('\n');
    KH_RETURN_IF_ERROR(keystore::WriteFileAtomic(
        path_ + ".head", ByteView(reinterpret_cast<const uint8_t*>(line.data()), line.size())));
  }
  return OkStatus();
}

Status LogFile::LoadKeyLocked() {
  if (key_.size() == kKeyLen) return OkStatus();
  auto key = secmem::SecretBytes::Create(kKeyLen);
  if (!key.ok()) return KH_E_OUT_OF_MEMORY;
  size_t len = 0;
  Status s = keystore::ReadSmallKeyFile(key_path_, key.data(), key.size(), &len);
  if (s.code() == KH_E_NOT_FOUND) {
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return KH_E_IO;
    bool existed = false;
    KH_RETURN_IF_ERROR(keystore::CreateFileExclusive(key_path_, ByteView(key.data(), key.size()), &existed));
    // Another process made it first: use theirs.
    s = existed ? keystore::ReadSmallKeyFile(key_path_, key.data(), key.size(), &len) : OkStatus();
    if (!existed) len = kKeyLen;
  }
  if (!s.ok()) return s.code() == KH_E_INSECURE_FILE ? s : Status(KH_E_IO);
  if (len != kKeyLen) return KH_E_IO;
  key_ = std::move(key);
  return OkStatus();
}

Status LogFile::WriteCheckpointLocked() {
  KH_RETURN_IF_ERROR(LoadKeyLocked());
  return WriteLineLocked("\"type\":\"checkpoint\"");
}

// RotateLocked closes the current file with a checkpoint, renames it to
// "<log>.<last seq, 20 digits>" and starts a new file whose first record
// names the old one; its "prev" is the old file's last hash (spec 5).
Status LogFile::RotateLocked() {
  if (!last_is_checkpoint_) KH_RETURN_IF_ERROR(WriteCheckpointLocked());
  char suffix[32];
  (void)std::snprintf(suffix, sizeof suffix, ".%020" PRIu64, seq_);
  const std::string rotated = path_ + suffix;
  const std::string tmp = path_ + ".new";
  (void)::unlink(tmp.c_str());
  int nfd = -1;
  KH_RETURN_IF_ERROR(OpenPrivate(tmp, O_WRONLY | O_APPEND | O_EXCL, &nfd));
  if (::rename(path_.c_str(), rotated.c_str()) != 0) {
    (void)::close(nfd);
    (void)::unlink(tmp.c_str());
    return KH_E_IO;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    (void)::close(nfd);
    return KH_E_IO;
  }
  CloseFdLocked();
  fd_ = nfd;
  known_size_ = 0;
  ++rotations_;
  std::string body = "\"type\":\"rotated\",\"from\":";
  AppendJsonString(&body, BaseOf(rotated));
  return WriteLineLocked(body);
}

}  // namespace keyhold::audit
