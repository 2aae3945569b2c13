// wycheproof_util.h -- a small, header-only file-test helper for the
// Wycheproof vectors in KEYHOLD_VECTORS_DIR "/wycheproof/" (the format is
// described in FORMAT.md beside them).
//
// A FileTest loads one vector file, walks every test of every group and
// counts, per file, how many cases ran (by expected result) and how many were
// skipped (by reason). Finish() prints one summary line to stdout and asserts
// that something ran, that exactly the expected number was skipped and that
// every test of the file was accounted for, so a suite cannot pass silently.
//
// Failure messages name the file, tcId and comment only: never key bytes.
#ifndef KEYHOLD_TESTS_WYCHEPROOF_UTIL_H_
#define KEYHOLD_TESTS_WYCHEPROOF_UTIL_H_

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keyhold/keyhold.h"

#ifndef KEYHOLD_VECTORS_DIR
#error "KEYHOLD_VECTORS_DIR must be defined (tests/CMakeLists.txt does)"
#endif

namespace wycheproof {

using Bytes = std::vector<uint8_t>;
using Json = nlohmann::json;

// Directory holding the Wycheproof JSON files.
inline std::string VectorDir() { return std::string(KEYHOLD_VECTORS_DIR) + "/wycheproof"; }

// Full path of one vector file.
inline std::string VectorPath(const std::string& file) { return VectorDir() + "/" + file; }

// LoadJson parses the file at path into *out. On failure returns false and
// describes the problem in *error.
inline bool LoadJson(const std::string& path, Json* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  *out = Json::parse(in, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *error = "malformed JSON in " + path;
    return false;
  }
  return true;
}

// HexDecode decodes lowercase or uppercase hex; false on odd length or a
// non-hex character.
inline bool HexDecode(std::string_view hex, Bytes* out) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return false;
  Bytes bytes(hex.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = std::move(bytes);
  return true;
}

// HexField decodes obj[name]; a missing, non-string or malformed field is a
// test failure (naming the field, not its content) and gives empty bytes.
inline Bytes HexField(const Json& obj, const char* name) {
  Bytes out;
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) {
    ADD_FAILURE() << "missing or non-string hex field '" << name << "'";
    return out;
  }
  if (!HexDecode(it->get_ref<const std::string&>(), &out)) {
    ADD_FAILURE() << "malformed hex in field '" << name << "'";
  }
  return out;
}

// IntField returns obj[name] as an integer; missing is a failure and gives -1.
inline int64_t IntField(const Json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_integer()) {
    ADD_FAILURE() << "missing or non-integer field '" << name << "'";
    return -1;
  }
  return it->get<int64_t>();
}

// The expected result of a test case.
enum class Result { kValid, kInvalid, kAcceptable };

inline const char* ResultName(Result r) {
  switch (r) {
    case Result::kValid:
      return "valid";
    case Result::kInvalid:
      return "invalid";
    case Result::kAcceptable:
      return "acceptable";
  }
  return "?";
}

inline std::optional<Result> ParseResult(const Json& test) {
  auto it = test.find("result");
  if (it == test.end() || !it->is_string()) return std::nullopt;
  const std::string& s = it->get_ref<const std::string&>();
  if (s == "valid") return Result::kValid;
  if (s == "invalid") return Result::kInvalid;
  if (s == "acceptable") return Result::kAcceptable;
  return std::nullopt;
}

// Counter records, for one file, the cases that ran (by result) and the
// cases skipped (by reason, in first-seen order).
class Counter {
 public:
  explicit Counter(std::string file) : file_(std::move(file)) {}

  void Ran(Result r) { ++ran_[static_cast<int>(r)]; }

  void Skipped(const std::string& reason) {
    for (auto& [why, n] : skipped_) {
      if (why == reason) {
        ++n;
        return;
      }
    }
    skipped_.emplace_back(reason, 1);
  }

  size_t ran(Result r) const { return ran_[static_cast<int>(r)]; }
  size_t ran() const { return ran_[0] + ran_[1] + ran_[2]; }
  size_t skipped() const {
    size_t n = 0;
    for (const auto& entry : skipped_) n += entry.second;
    return n;
  }

  // Summary is the one-line report, e.g.
  // "wycheproof x.json: ran 105 (valid 76, invalid 29, acceptable 0),
  // skipped 211 (AES-128/192 keys: keyhold is AES-256 only)"; with several
  // reasons each is preceded by its count: "skipped 3 (2: why; 1: why)".
  std::string Summary() const {
    std::ostringstream s;
    s << "wycheproof " << file_ << ": ran " << ran() << " (valid " << ran(Result::kValid) << ", invalid "
      << ran(Result::kInvalid) << ", acceptable " << ran(Result::kAcceptable) << "), skipped " << skipped();
    if (skipped_.size() == 1) {
      s << " (" << skipped_[0].first << ")";
    } else if (skipped_.size() > 1) {
      s << " (";
      for (size_t i = 0; i < skipped_.size(); ++i) {
        s << (i ? "; " : "") << skipped_[i].second << ": " << skipped_[i].first;
      }
      s << ")";
    }
    return s.str();
  }

  void Print() const { std::cout << Summary() << std::endl; }

 private:
  std::string file_;
  size_t ran_[3] = {0, 0, 0};
  std::vector<std::pair<std::string, size_t>> skipped_;
};

// TestCase is what a FileTest hands to the per-case callback.
struct TestCase {
  const Json& group;
  const Json& test;
  int64_t tc_id;
  Result result;

  // Hex decodes a field of the test.
  Bytes Hex(const char* name) const { return HexField(test, name); }
  // GroupInt reads an integer field of the group (keySize, ivSize, ...).
  int64_t GroupInt(const char* name) const { return IntField(group, name); }

  // Skip marks the case as not run, with a reason that is printed.
  void Skip(std::string reason) { skip_reason = std::move(reason); }
  std::optional<std::string> skip_reason;
};

// FileTest loads one vector file and runs a callback on every test case.
class FileTest {
 public:
  explicit FileTest(std::string file) : file_(std::move(file)), counter_(file_) {
    std::string error;
    loaded_ = LoadJson(VectorPath(file_), &root_, &error);
    if (!loaded_) {
      ADD_FAILURE() << "wycheproof " << file_ << ": " << error;
      return;
    }
    if (!root_.contains("testGroups") || !root_["testGroups"].is_array()) {
      ADD_FAILURE() << "wycheproof " << file_ << ": no testGroups array";
      loaded_ = false;
    }
  }

  bool loaded() const { return loaded_; }
  const Json& root() const { return root_; }
  const std::string& file() const { return file_; }
  const Counter& counter() const { return counter_; }

  // ForEach calls fn(TestCase&) for every test. A case counts as run unless
  // fn calls Skip(). Failures inside fn are traced with file, tcId and
  // comment.
  template <typename Fn>
  void ForEach(Fn&& fn) {
    if (!loaded_) return;
    for (const Json& group : root_["testGroups"]) {
      if (!group.contains("tests") || !group["tests"].is_array()) {
        ADD_FAILURE() << "wycheproof " << file_ << ": a group has no tests array";
        continue;
      }
      for (const Json& test : group["tests"]) {
        int64_t tc_id =
            test.contains("tcId") && test["tcId"].is_number_integer() ? test["tcId"].get<int64_t>() : -1;
        std::string comment = test.contains("comment") && test["comment"].is_string()
                                  ? test["comment"].get<std::string>()
                                  : std::string();
        SCOPED_TRACE(file_ + " tcId " + std::to_string(tc_id) + " (" + comment + ")");
        std::optional<Result> result = ParseResult(test);
        if (tc_id < 0 || !result) {
          ADD_FAILURE() << "test case without a tcId or a known result";
          continue;  // not counted: Finish() then reports the mismatch
        }
        TestCase tc{group, test, tc_id, *result, std::nullopt};
        fn(tc);
        if (tc.skip_reason) {
          counter_.Skipped(*tc.skip_reason);
        } else {
          counter_.Ran(*result);
        }
      }
    }
  }

  // Finish prints the summary line and asserts that at least one case ran,
  // that exactly expected_skipped were skipped, and that ran + skipped is the
  // file's numberOfTests.
  void Finish(size_t expected_skipped) {
    counter_.Print();
    EXPECT_TRUE(loaded_) << file_;
    EXPECT_GT(counter_.ran(), 0u) << file_ << ": no test case ran";
    EXPECT_EQ(counter_.skipped(), expected_skipped) << file_ << ": unexpected number of skipped cases";
    if (loaded_) {
      auto it = root_.find("numberOfTests");
      if (it == root_.end() || !it->is_number_integer()) {
        ADD_FAILURE() << file_ << ": no numberOfTests";
      } else {
        EXPECT_EQ(counter_.ran() + counter_.skipped(), it->get<size_t>())
            << file_ << ": not every test case was accounted for";
      }
    }
  }

 private:
  std::string file_;
  Counter counter_;
  Json root_;
  bool loaded_ = false;
};

}  // namespace wycheproof

#endif  // KEYHOLD_TESTS_WYCHEPROOF_UTIL_H_
