package native

/*
#include <keyhold/keyhold.h>
*/
import "C"

import (
	"unsafe"

	"keyhold.dev/keyhold/internal/backend"
)

// str returns a pointer to s's bytes, or nil for "". The engine takes
// (ptr, len) strings and never writes them or keeps the pointer.
func str(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

func (Native) KEKOpen(engine backend.Handle, spec string) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_kek_open(C.kh_handle(engine), str(spec), C.size_t(len(spec)), &h)
	return backend.Handle(h), st(r)
}

func (Native) KEKKind(kek backend.Handle) (uint32, backend.Status) {
	var k C.uint32_t
	r := C.kh_kek_kind_get(C.kh_handle(kek), &k)
	return uint32(k), st(r)
}

func (Native) KeysetSaveFile(keyset, kek backend.Handle, path string) backend.Status {
	return st(C.kh_keyset_save_file(C.kh_handle(keyset), C.kh_handle(kek), str(path), C.size_t(len(path))))
}

func (Native) KeysetLoadFile(engine, kek backend.Handle, path string) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_keyset_load_file(C.kh_handle(engine), C.kh_handle(kek), str(path), C.size_t(len(path)), &h)
	return backend.Handle(h), st(r)
}

func (Native) KeysetFileInfo(path string, keys []backend.KeyFileInfo) (backend.KeysetFileInfo, int, backend.Status) {
	var info C.kh_keyset_file_info
	var n C.size_t
	buf := make([]C.kh_key_file_info, len(keys))
	var p *C.kh_key_file_info
	if len(buf) > 0 {
		p = &buf[0]
	}
	r := C.kh_keyset_file_info_get(str(path), C.size_t(len(path)), &info, p, C.size_t(len(buf)), &n)
	if r != C.KH_OK {
		return backend.KeysetFileInfo{}, int(n), st(r)
	}
	for i := 0; i < int(n); i++ {
		keys[i] = backend.KeyFileInfo{
			KeyID:    uint32(buf[i].key_id),
			Status:   uint32(buf[i].status),
			Created:  uint64(buf[i].created),
			UseCount: uint64(buf[i].use_count),
		}
	}
	out := backend.KeysetFileInfo{
		Version:      uint32(info.version),
		Alg:          uint32(info.alg),
		Flags:        uint32(info.flags),
		KEKKind:      uint32(info.kek_kind),
		PrimaryKeyID: uint32(info.primary_key_id),
		KeyCount:     uint32(info.key_count),
	}
	for i := range out.KeysetID {
		out.KeysetID[i] = byte(info.keyset_id[i])
	}
	return out, int(n), backend.StatusOK
}

func (Native) KeysetExportWrapped(keyset, kek backend.Handle, out []byte) (int, backend.Status) {
	var n C.size_t
	r := C.kh_keyset_export_wrapped(C.kh_handle(keyset), C.kh_handle(kek), ptr(out), C.size_t(len(out)), &n)
	return int(n), st(r)
}

func (Native) KeysetImportWrapped(engine, kek backend.Handle, blob []byte) (backend.Handle, backend.Status) {
	var h C.kh_handle
	r := C.kh_keyset_import_wrapped(C.kh_handle(engine), C.kh_handle(kek), ptr(blob), C.size_t(len(blob)), &h)
	return backend.Handle(h), st(r)
}
