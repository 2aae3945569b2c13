// Policy enforcement (docs/configuration.md section "policy",
// docs/decisions/0015-configuration-and-policy.md): which algorithms an
// engine may use and how, minimum key sizes, whether export is permitted.
//
// Every Check* returns OK or KH_E_POLICY_DENIED; a refusal is counted in the
// metrics and written to the audit trail with its reason code before the
// function returns. The audit write's own failure does not turn a refusal
// into an allowance, nor into another status.
#pragma once

#include <span>

#include "audit/audit.h"
#include "config/config.h"
#include "core/status.h"
#include "metrics/metrics.h"

namespace keyhold::policy {

// Use: what a keyset of this algorithm may do under policy.
enum class Use : uint8_t {
  kFull,         // enabled
  kDecryptOnly,  // deprecated: decrypt and verify only
  kNone,         // disabled
};
Use UseOf(const config::Policy& p, kh_alg alg);

// CheckGenerate: a new key (generate, rotate) needs an enabled algorithm.
Status CheckGenerate(const config::Policy& p, kh_alg alg, audit::Op op, std::span<const uint8_t> keyset = {});
// CheckExisting: importing or loading keys needs an enabled or deprecated
// algorithm (deprecated keysets then run decrypt-only).
Status CheckExisting(const config::Policy& p, kh_alg alg, audit::Op op, std::span<const uint8_t> keyset = {});
// CheckRawKey: minimum key sizes of raw imports (HMAC keys).
Status CheckRawKey(const config::Policy& p, kh_alg alg, size_t key_len);
// CheckExport: wrapped export and saves under another KEK.
Status CheckExport(const config::Policy& p, std::span<const uint8_t> keyset);
// Refuse records a refusal of op on a decrypt-only keyset (the hot paths
// check the keyset's flag themselves) and returns KH_E_POLICY_DENIED.
Status RefuseDeprecated(audit::Op op, std::span<const uint8_t> keyset) noexcept;

}  // namespace keyhold::policy
