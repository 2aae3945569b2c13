package native

/*
#include <keyhold/keyhold.h>

// The streaming functions are an ABI 1 addition. scripts/abi-check builds
// this binding against the ABI baseline's header (abi/include), which
// predates them, and runs it with the current library: for that build the
// declarations below, copied from include/keyhold/keyhold.h, stand in. With
// the current header they are skipped.
#ifndef KH_STREAM_HEADER_LEN
typedef struct kh_stream_info {
  uint32_t alg;
  uint32_t key_id;
  uint32_t segment_size;
  uint32_t header_len;
  uint32_t tag_len;
  uint32_t encrypting;
} kh_stream_info;
kh_status kh_stream_encrypt_begin(kh_handle keyset, const uint8_t* aad, size_t aad_len, uint32_t segment_size,
                                  uint8_t* header, size_t header_cap, size_t* header_len, kh_handle* out_stream);
kh_status kh_stream_decrypt_begin(kh_handle keyset, const uint8_t* header, size_t header_len, const uint8_t* aad,
                                  size_t aad_len, kh_handle* out_stream);
kh_status kh_stream_info_get(kh_handle stream, kh_stream_info* out);
kh_status kh_stream_seal(kh_handle stream, uint64_t first, uint32_t last, const uint8_t* pt, size_t pt_len,
                         uint8_t* out, size_t out_cap, size_t* out_len);
kh_status kh_stream_open(kh_handle stream, uint64_t first, uint32_t last, const uint8_t* ct, size_t ct_len,
                         uint8_t* out, size_t out_cap, size_t* out_len);
#endif
*/
import "C"

import "keyhold.dev/keyhold/internal/backend"

// Streaming AEAD (kh_stream_*). Like every call here, the buffers go to C
// as they are, and no pointer outlives the call.

func cbool(b bool) C.uint32_t {
	if b {
		return 1
	}
	return 0
}

func (Native) StreamEncryptBegin(keyset backend.Handle, aad []byte, segmentSize uint32, header []byte) (backend.Handle, int, backend.Status) {
	var h C.kh_handle
	var n C.size_t
	r := C.kh_stream_encrypt_begin(C.kh_handle(keyset), ptr(aad), C.size_t(len(aad)), C.uint32_t(segmentSize),
		ptr(header), C.size_t(len(header)), &n, &h)
	return backend.Handle(h), int(n), st(r)
}

func (Native) StreamDecryptBegin(keyset backend.Handle, header, aad []byte) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_stream_decrypt_begin(C.kh_handle(keyset), ptr(header), C.size_t(len(header)), ptr(aad),
		C.size_t(len(aad)), &h)
	return backend.Handle(h), st(r)
}

func (Native) StreamInfo(stream backend.Handle) (backend.StreamInfo, backend.Status) {
	var i C.kh_stream_info
	r := C.kh_stream_info_get(C.kh_handle(stream), &i)
	if r != C.KH_OK {
		return backend.StreamInfo{}, st(r)
	}
	return backend.StreamInfo{
		Alg:         uint32(i.alg),
		KeyID:       uint32(i.key_id),
		SegmentSize: uint32(i.segment_size),
		HeaderLen:   uint32(i.header_len),
		TagLen:      uint32(i.tag_len),
		Encrypting:  i.encrypting == 1,
	}, backend.StatusOK
}

func (Native) StreamSeal(stream backend.Handle, first uint64, last bool, pt, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_stream_seal(C.kh_handle(stream), C.uint64_t(first), cbool(last), ptr(pt), C.size_t(len(pt)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) StreamOpen(stream backend.Handle, first uint64, last bool, ct, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_stream_open(C.kh_handle(stream), C.uint64_t(first), cbool(last), ptr(ct), C.size_t(len(ct)),
		ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}
