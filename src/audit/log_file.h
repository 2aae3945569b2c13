// LogFile: the audit trail's chain writer and file sink (docs/spec/audit.md
// sections 2, 3 and 5). It owns the chain state (sequence number and the
// hash of the last record) and, with a file, keeps it in step with other
// processes appending to the same log: every append runs under an flock on
// "<log>.lock" and rereads the file's last record when the file changed
// since this process last wrote it.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "secmem/arena.h"

namespace keyhold::audit {

class LogFile {
 public:
  // path: the log file; empty = no file (records are chained in memory and
  // go to syslog only). key_path: the checkpoint key file. max_bytes: the
  // rotation size (0 = never).
  LogFile(std::string path, std::string key_path, bool syslog, uint64_t max_bytes);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Append writes one record per body ("\"type\":...", the fields after
  // the common ones; spec section 2) in order, then a checkpoint when
  // checkpoint is true or checkpoint_every records have been written since
  // the last one.
  // KH_E_IO (or KH_E_INSECURE_FILE) when the file sink failed: then no
  // record of this call is in the file (a partial write is cut off).
  Status Append(const std::vector<std::string>& bodies, bool checkpoint, uint32_t checkpoint_every);

  // broken: the last append failed.
  bool broken() const;
  uint64_t last_seq() const;

 private:
  Status AppendLocked(const std::vector<std::string>& bodies, bool checkpoint, uint32_t checkpoint_every);
  Status SyncLocked();
  Status ReadTailLocked(uint64_t size);
  Status LoadKeyLocked();
  Status WriteLineLocked(const std::string& body);
  Status WriteCheckpointLocked();
  Status RotateLocked();
  void CloseFdLocked();

  const std::string path_;
  const std::string key_path_;
  const bool syslog_;
  const uint64_t max_bytes_;

  mutable std::mutex mu_;
  int fd_ = -1;                     // the log, O_APPEND
  int lock_fd_ = -1;                // "<log>.lock"
  int64_t known_size_ = -1;         // the size after this process's last write
  uint64_t seq_ = 0;                // the last record's sequence number
  std::array<uint8_t, 32> prev_{};  // the last record's hash
  bool last_is_checkpoint_ = true;  // nothing uncovered
  uint32_t since_checkpoint_ = 0;   // records since the last checkpoint
  bool broken_ = false;
  uint64_t rotations_ = 0;
  secmem::SecretBytes key_;  // the checkpoint key (32 bytes), loaded on first checkpoint
};

// Hex returns bytes as lowercase hex.
std::string Hex(std::span<const uint8_t> b);

// JsonString appends s as a JSON string literal (quotes, escapes).
void AppendJsonString(std::string* out, std::string_view s);

// NowRfc3339 returns the current UTC time, microseconds, "Z".
std::string NowRfc3339();

}  // namespace keyhold::audit
