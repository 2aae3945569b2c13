#include "policy/policy.h"

namespace keyhold::policy {
namespace {

Status Refuse(audit::Op op, metrics::Reason reason, std::span<const uint8_t> keyset) noexcept {
  metrics::RecordRefusal(reason);
  try {
    // The refusal stands whatever the audit sink says (header comment).
    (void)audit::RecordPolicy(op, metrics::ReasonName(reason), KH_E_POLICY_DENIED, keyset);
  } catch (...) {  // NOLINT(bugprone-empty-catch): see above
  }
  return KH_E_POLICY_DENIED;
}

}  // namespace

Use UseOf(const config::Policy& p, kh_alg alg) {
  const auto a = static_cast<uint32_t>(alg);
  if (a >= config::kAlgSlots) return Use::kNone;
  if (p.enabled.test(a)) return Use::kFull;
  if (p.deprecated.test(a)) return Use::kDecryptOnly;
  return Use::kNone;
}

Status CheckGenerate(const config::Policy& p, kh_alg alg, audit::Op op, std::span<const uint8_t> keyset) {
  switch (UseOf(p, alg)) {
    case Use::kFull:
      return OkStatus();
    case Use::kDecryptOnly:
      return Refuse(op, metrics::Reason::kAlgDeprecated, keyset);
    case Use::kNone:
      break;
  }
  return Refuse(op, metrics::Reason::kAlgDisabled, keyset);
}

Status CheckExisting(const config::Policy& p, kh_alg alg, audit::Op op, std::span<const uint8_t> keyset) {
  if (UseOf(p, alg) == Use::kNone) return Refuse(op, metrics::Reason::kAlgDisabled, keyset);
  return OkStatus();
}

Status CheckRawKey(const config::Policy& p, kh_alg alg, size_t key_len) {
  if ((alg == KH_ALG_HMAC_SHA256 || alg == KH_ALG_HMAC_SHA512) && key_len < p.min_hmac_key_bytes) {
    return Refuse(audit::Op::kKeyImport, metrics::Reason::kKeyTooShort, {});
  }
  return OkStatus();
}

Status CheckExport(const config::Policy& p, std::span<const uint8_t> keyset) {
  if (!p.allow_export) return Refuse(audit::Op::kKeyExport, metrics::Reason::kExportForbidden, keyset);
  return OkStatus();
}

Status RefuseDeprecated(audit::Op op, std::span<const uint8_t> keyset) noexcept {
  return Refuse(op, metrics::Reason::kAlgDeprecated, keyset);
}

}  // namespace keyhold::policy
