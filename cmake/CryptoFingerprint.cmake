# CryptoFingerprint: SHA-256 of the crypto libraries this build links, for
# kh_build_info ("crypto_fingerprint"; docs/assurance.md).
#
# Hashed, at configure time, each file whole, by its file name:
#  - the static archives the Go binding embeds (libcrypto.a, libsodium.a,
#    and libIPSec_MB.a where intel-ipsec-mb is built in): what a Go binary
#    actually carries;
#  - the shared objects libkeyhold.so is linked against (the real files
#    behind OpenSSL's, libsodium's and intel-ipsec-mb's .so links).
# "sha256" is the SHA-256 of the lines "<file name> <sha256>\n" in that
# order, one value to compare between two builds. Whatever is not found is
# left out (and absent from "files"). A change of any of these files re-runs
# the configure step, so the value cannot go stale.
#
# In: OPENSSL_CRYPTO_LIBRARY, SODIUM_LINK_LIBRARIES, KEYHOLD_IPSEC_MB_LIBS.
# Out: KEYHOLD_CRYPTO_FINGERPRINT, a JSON object escaped for a C string.
set(_kh_fp_files)
foreach(_kh_name crypto sodium IPSec_MB)
  find_library(KEYHOLD_FP_STATIC_${_kh_name} NAMES lib${_kh_name}.a)
  if(KEYHOLD_FP_STATIC_${_kh_name})
    list(APPEND _kh_fp_files ${KEYHOLD_FP_STATIC_${_kh_name}})
  endif()
endforeach()
foreach(_kh_lib ${OPENSSL_CRYPTO_LIBRARY} ${SODIUM_LINK_LIBRARIES} ${KEYHOLD_IPSEC_MB_LIBS})
  if(_kh_lib MATCHES "\\.so")
    get_filename_component(_kh_real ${_kh_lib} REALPATH)
    list(APPEND _kh_fp_files ${_kh_real})
  endif()
endforeach()

set(_kh_fp_lines "")
set(_kh_fp_json "")
foreach(_kh_file ${_kh_fp_files})
  file(SHA256 ${_kh_file} _kh_sum)
  get_filename_component(_kh_base ${_kh_file} NAME)
  string(APPEND _kh_fp_lines "${_kh_base} ${_kh_sum}\n")
  if(_kh_fp_json)
    string(APPEND _kh_fp_json ",")
  endif()
  string(APPEND _kh_fp_json "\\\"${_kh_base}\\\":\\\"${_kh_sum}\\\"")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_kh_file})
endforeach()
string(SHA256 _kh_fp_all "${_kh_fp_lines}")
set(KEYHOLD_CRYPTO_FINGERPRINT "{\\\"sha256\\\":\\\"${_kh_fp_all}\\\",\\\"files\\\":{${_kh_fp_json}}}")
