#include "core/status.h"

namespace keyhold {

const char* StatusName(kh_status s) {
  switch (s) {
    case KH_OK:
      return "KH_OK";
    case KH_E_INVALID_ARGUMENT:
      return "KH_E_INVALID_ARGUMENT";
    case KH_E_NULL_POINTER:
      return "KH_E_NULL_POINTER";
    case KH_E_BUFFER_TOO_SMALL:
      return "KH_E_BUFFER_TOO_SMALL";
    case KH_E_STALE_HANDLE:
      return "KH_E_STALE_HANDLE";
    case KH_E_WRONG_HANDLE_TYPE:
      return "KH_E_WRONG_HANDLE_TYPE";
    case KH_E_WRONG_PRIMITIVE:
      return "KH_E_WRONG_PRIMITIVE";
    case KH_E_UNSUPPORTED:
      return "KH_E_UNSUPPORTED";
    case KH_E_AUTH_FAILED:
      return "KH_E_AUTH_FAILED";
    case KH_E_MALFORMED:
      return "KH_E_MALFORMED";
    case KH_E_UNKNOWN_KEY:
      return "KH_E_UNKNOWN_KEY";
    case KH_E_KEY_DISABLED:
      return "KH_E_KEY_DISABLED";
    case KH_E_KEY_DESTROYED:
      return "KH_E_KEY_DESTROYED";
    case KH_E_TOO_LARGE:
      return "KH_E_TOO_LARGE";
    case KH_E_LIMIT_EXCEEDED:
      return "KH_E_LIMIT_EXCEEDED";
    case KH_E_POLICY_DENIED:
      return "KH_E_POLICY_DENIED";
    case KH_E_NOT_EXPORTABLE:
      return "KH_E_NOT_EXPORTABLE";
    case KH_E_SELF_TEST_FAILED:
      return "KH_E_SELF_TEST_FAILED";
    case KH_E_OUT_OF_MEMORY:
      return "KH_E_OUT_OF_MEMORY";
    case KH_E_INTERNAL:
      return "KH_E_INTERNAL";
    case KH_STATUS_MAX_ENUM_:
      break;
    case KH_E_ENGINE_CLOSED:
      return "KH_E_ENGINE_CLOSED";
    case KH_E_IO:
      return "KH_E_IO";
    case KH_E_INSECURE_FILE:
      return "KH_E_INSECURE_FILE";
    case KH_E_KEK_UNAVAILABLE:
      return "KH_E_KEK_UNAVAILABLE";
    case KH_E_NOT_FOUND:
      return "KH_E_NOT_FOUND";
  }
  return "KH_E_UNKNOWN_STATUS";
}

}  // namespace keyhold
