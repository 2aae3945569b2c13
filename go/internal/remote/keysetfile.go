package remote

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"

	"keyhold.dev/keyhold/internal/backend"
)

// readKeysetFileInfo parses the public metadata of a keyset file
// (docs/spec/keyset.md sections 2 and 3) in pure Go: what the daemon
// client needs to name a keyset without reading any secret. Like
// kh_keyset_file_info_get it trusts the file: the metadata is
// authenticated only when the daemon loads it.
func readKeysetFileInfo(path string, keys []backend.KeyFileInfo) (backend.KeysetFileInfo, int, backend.Status) {
	var info backend.KeysetFileInfo
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return info, 0, backend.StatusNotFound
		}
		return info, 0, backend.StatusIO
	}
	defer f.Close()
	var head [9]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return info, 0, backend.StatusMalformed
	}
	if string(head[:4]) != "KHKS" {
		return info, 0, backend.StatusMalformed
	}
	if head[4] != 1 {
		return info, 0, backend.StatusUnsupported
	}
	metaLen := binary.BigEndian.Uint32(head[5:])
	if metaLen < 31+23 || metaLen > 31+23*1024 || (metaLen-31)%23 != 0 {
		return info, 0, backend.StatusMalformed
	}
	meta := make([]byte, metaLen)
	if _, err := io.ReadFull(f, meta); err != nil {
		return info, 0, backend.StatusMalformed
	}
	count := int(binary.BigEndian.Uint16(meta[29:]))
	if uint32(31+23*count) != metaLen {
		return info, 0, backend.StatusMalformed
	}
	copy(info.KeysetID[:], meta[:16])
	info.Version = 1
	info.Alg = binary.BigEndian.Uint32(meta[16:])
	info.Flags = binary.BigEndian.Uint32(meta[20:])
	info.KEKKind = uint32(meta[24])
	info.PrimaryKeyID = binary.BigEndian.Uint32(meta[25:])
	info.KeyCount = uint32(count)
	if len(keys) < count {
		return info, count, backend.StatusBufferTooSmall
	}
	for i := 0; i < count; i++ {
		r := meta[31+23*i:]
		keys[i] = backend.KeyFileInfo{KeyID: binary.BigEndian.Uint32(r), Status: uint32(r[4]),
			Created: binary.BigEndian.Uint64(r[7:]), UseCount: binary.BigEndian.Uint64(r[15:])}
	}
	return info, count, backend.StatusOK
}
