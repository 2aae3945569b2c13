// Key files on disk (docs/spec/keyset.md section 2): reading with the
// permission check, and atomic, durable replacement.
//
// A key file -- a keyset file or a file KEK -- must grant nothing to group
// or others: whoever can read it can attack it offline (a keyset file) or
// read the key outright (a KEK file), and whoever can write it can roll it
// back or swap it. Files keyhold creates are 0600.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace keyhold::keystore {

// kMaxKeyFileLen bounds every key file read (a keyset of the maximum 1024
// keys is under 100 KiB).
inline constexpr size_t kMaxKeyFileLen = size_t{1} << 20;

// ReadKeyFile reads the whole file at path into out (at most max bytes).
// Missing: KH_E_NOT_FOUND. Not a regular file or unreadable: KH_E_IO. Any
// group or other permission bit: KH_E_INSECURE_FILE. Longer than max:
// KH_E_TOO_LARGE.
Status ReadKeyFile(const std::string& path, size_t max, std::vector<uint8_t>* out);

// ReadSmallKeyFile is ReadKeyFile into a caller buffer (for secrets, which
// must not land in a growable heap vector); *len receives the length.
Status ReadSmallKeyFile(const std::string& path, uint8_t* buf, size_t cap, size_t* len);

// WriteFileAtomic replaces path with data: a new 0600 file in the same
// directory, written and fsync'ed, renamed over path, then the directory
// fsync'ed. A crash at any point leaves path either as it was or as data.
// A failure removes the temporary file. KH_E_IO on any failure.
Status WriteFileAtomic(const std::string& path, ByteView data);

// CreateFileExclusive is WriteFileAtomic that never replaces: if path
// exists (or appears meanwhile) it writes nothing and sets *existed.
Status CreateFileExclusive(const std::string& path, ByteView data, bool* existed);

// AbsolutePath returns path made absolute against the current directory
// (without resolving links), so a keyset's home survives a chdir.
// KH_E_IO if the current directory cannot be read.
Status AbsolutePath(const std::string& path, std::string* out);

}  // namespace keyhold::keystore
