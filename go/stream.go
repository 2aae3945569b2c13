package keyhold

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"keyhold.dev/keyhold/internal/backend"
)

// Streaming AEAD (docs/spec/stream.md): data of any size encrypted as a
// header followed by segments, so that neither side holds it whole, the
// engine is reached once per batch of segments, and any part can be read
// without the rest.
//
// A stream is a header of StreamHeaderLen bytes, then segments of
// segmentSize plaintext bytes (the last one shorter) each followed by a
// 16-byte tag. The header names the keyset key, so a stream still decrypts
// after its keyset is rotated. Truncating, extending, reordering,
// duplicating or splicing segments or streams, flipping any bit, a wrong key
// or wrong associated data: each fails with an error matching ErrAuthFailed
// (or, for a header that names no key of the keyset or is not a stream
// header at all, ErrUnknownKey, ErrMalformed or ErrUnsupported).

// Stream sizes (KH_STREAM_*).
const (
	// StreamHeaderLen is the length of a stream header.
	StreamHeaderLen = backend.StreamHeaderLen
	// StreamTagLen is the number of bytes each segment adds.
	StreamTagLen = backend.StreamTagLen
	// DefaultSegmentSize is the plaintext bytes per segment unless
	// WithSegmentSize says otherwise (64 KiB, docs/decisions/0013).
	DefaultSegmentSize = backend.StreamSegmentDefault
	// MinSegmentSize and MaxSegmentSize bound WithSegmentSize.
	MinSegmentSize = backend.StreamSegmentMin
	MaxSegmentSize = backend.StreamSegmentMax
)

// StreamOption configures NewEncryptingWriter.
type StreamOption func(*streamConfig)

type streamConfig struct {
	segmentSize int
}

// WithSegmentSize sets the plaintext bytes per segment, MinSegmentSize ..
// MaxSegmentSize. Larger segments cost memory (a writer or reader holds a
// few) and make random access read more; smaller ones add 16 bytes per
// segment and one AEAD call each.
func WithSegmentSize(n int) StreamOption { return func(c *streamConfig) { c.segmentSize = n } }

// batchBytes is the plaintext a Writer or Reader hands to the engine in one
// crossing: whole segments, at least one. At the default segment size that
// is one segment per crossing (a crossing costs ~0.1 µs, a 64 KiB segment
// 3 µs with AES-GCM, so batching more buys little and keeps more data out of
// the L2 cache); smaller segments are batched up to 64 KiB. A Writer or
// Reader holds about three batches of memory whatever the stream's size.
const batchBytes = 64 << 10

// streamHandle is a native stream owned by a Go object.
type streamHandle struct {
	owned
	ks      *Keyset // keeps the engine alive while the stream is used
	seg     int     // plaintext bytes per segment
	batch   int     // segments per crossing
	closeOp string
}

func (a *AEAD) newStreamHandle(op string, h backend.Handle, st backend.Status) (*streamHandle, error) {
	if st != backend.StatusOK {
		return nil, newError(op, st)
	}
	k := a.ks
	s := &streamHandle{owned: owned{be: k.be, h: h}, ks: k}
	s.cleanup = runtime.AddCleanup(s, closer.close, closer{be: k.be, h: h})
	info, st := k.be.StreamInfo(h)
	if st != backend.StatusOK {
		_ = s.release(op)
		return nil, newError(op, st)
	}
	s.seg = int(info.SegmentSize)
	s.batch = max(1, batchBytes/s.seg)
	return s, nil
}

// segments returns how many segments n bytes of plaintext make in a call
// that ends the stream (last) or not.
func segmentsFor(n, seg int, last bool) int {
	if !last {
		return n / seg
	}
	return max(1, (n+seg-1)/seg)
}

// ------------------------------------------------------------- writer

// StreamWriter encrypts everything written to it as one stream onto an
// underlying writer. Close must be called to seal the last segment; a
// stream that was not closed does not decrypt (it reads as truncated).
// A StreamWriter is not safe for concurrent use.
type StreamWriter struct {
	s    *streamHandle
	w    io.Writer
	buf  []byte // pending plaintext; cap = batch*seg + seg
	out  []byte // ciphertext of one crossing
	next uint64 // index of the next segment
	err  error  // sticky
	done bool
}

// NewEncryptingWriter starts a stream under the keyset's primary key
// (counting one use), writes its header to w and returns a writer that
// encrypts into w. aad is authenticated with the stream and must be given
// again to decrypt. Data reaches w one batch of segments at a time; the
// last, short segment only at Close.
func (a *AEAD) NewEncryptingWriter(w io.Writer, aad []byte, opts ...StreamOption) (*StreamWriter, error) {
	const op = "stream.encrypt_begin"
	cfg := streamConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.segmentSize != 0 && (cfg.segmentSize < MinSegmentSize || cfg.segmentSize > MaxSegmentSize) {
		return nil, &Error{Op: op, Code: StatusInvalidArgument}
	}
	k := a.ks
	kh, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	var header [StreamHeaderLen]byte
	h, _, st := k.be.StreamEncryptBegin(kh, aad, uint32(cfg.segmentSize), header[:])
	runtime.KeepAlive(k)
	s, err := a.newStreamHandle(op, h, st)
	if err != nil {
		return nil, err
	}
	s.closeOp = "stream.writer_close"
	if _, err := w.Write(header[:]); err != nil {
		_ = s.release(op)
		return nil, err
	}
	return &StreamWriter{
		s:   s,
		w:   w,
		buf: make([]byte, 0, s.batch*s.seg+s.seg),
		out: make([]byte, s.batch*(s.seg+StreamTagLen)),
	}, nil
}

// Write encrypts p. It returns an error (and the stream is unusable) if
// the engine or the underlying writer fails.
func (w *StreamWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, &Error{Op: "stream.write", Code: StatusStaleHandle}
	}
	full := w.s.batch * w.s.seg
	n := 0
	for len(p) > 0 {
		if len(w.buf) >= full {
			// More data follows, so these segments are not the last.
			if err := w.flushFull(); err != nil {
				return n, err
			}
		}
		if len(w.buf) == 0 && len(p) > full {
			// Straight from the caller's buffer, no copy.
			if err := w.seal(p[:full], false); err != nil {
				return n, err
			}
			p, n = p[full:], n+full
			continue
		}
		c := copy(w.buf[len(w.buf):full], p)
		w.buf = w.buf[:len(w.buf)+c]
		p, n = p[c:], n+c
	}
	return n, nil
}

// ReadFrom encrypts everything r yields until io.EOF, reading straight into
// the writer's buffer (io.Copy uses it). Close still ends the stream.
func (w *StreamWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, &Error{Op: "stream.write", Code: StatusStaleHandle}
	}
	full := w.s.batch * w.s.seg
	var total int64
	for {
		if len(w.buf) > full {
			if err := w.flushFull(); err != nil {
				return total, err
			}
		}
		m, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+m]
		total += int64(m)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flushFull seals the first batch of buffered segments (not the last of the
// stream) and keeps the rest.
func (w *StreamWriter) flushFull() error {
	full := w.s.batch * w.s.seg
	if err := w.seal(w.buf[:full], false); err != nil {
		return err
	}
	rest := copy(w.buf, w.buf[full:])
	w.buf = w.buf[:rest]
	return nil
}

func (w *StreamWriter) seal(pt []byte, last bool) error {
	const op = "stream.seal"
	h, err := w.s.live(op)
	if err != nil {
		w.err = err
		return err
	}
	count := segmentsFor(len(pt), w.s.seg, last)
	n, st := w.s.be.StreamSeal(h, w.next, last, pt, w.out[:len(pt)+count*StreamTagLen])
	runtime.KeepAlive(w.s)
	if st != backend.StatusOK {
		w.err = newError(op, st)
		return w.err
	}
	w.next += uint64(count)
	if _, err := w.w.Write(w.out[:n]); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close seals the buffered data as the stream's last segment, writes it and
// releases the stream. It does not close the underlying writer. A second
// Close returns nil (or the error that ended the stream).
func (w *StreamWriter) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	defer w.s.release(w.s.closeOp)
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > w.s.batch*w.s.seg {
		if err := w.flushFull(); err != nil {
			return err
		}
	}
	return w.seal(w.buf, true)
}

// ------------------------------------------------------------- reader

// StreamReader decrypts a stream read from an underlying reader. Read
// returns only plaintext of segments that authenticated; the first failure
// is returned (matching ErrAuthFailed for any tampering or truncation) and
// repeated by every later call. A StreamReader is not safe for concurrent
// use.
type StreamReader struct {
	s    *streamHandle
	r    io.Reader
	ct   []byte // ciphertext read ahead; cap = batch*(seg+16) + 1
	pt   []byte // decrypted, not yet returned: pt[off:]
	off  int
	next uint64
	done bool // the last segment was opened
	err  error
}

// NewDecryptingReader reads the stream header from r and returns a reader of
// the plaintext. A header that is short (ErrMalformed), of another version
// (ErrUnsupported), another algorithm (ErrMalformed) or names a key the
// keyset does not hold (ErrUnknownKey, ErrKeyDisabled, ErrKeyDestroyed) is
// refused here; everything else surfaces from Read.
func (a *AEAD) NewDecryptingReader(r io.Reader, aad []byte) (*StreamReader, error) {
	s, err := a.beginDecrypt(func(hdr []byte) error {
		_, err := io.ReadFull(r, hdr)
		return err
	}, aad)
	if err != nil {
		return nil, err
	}
	c := s.seg + StreamTagLen
	return &StreamReader{
		s:  s,
		r:  r,
		ct: make([]byte, 0, s.batch*c+1),
		pt: make([]byte, 0, s.batch*s.seg),
	}, nil
}

func (a *AEAD) beginDecrypt(readHeader func([]byte) error, aad []byte) (*streamHandle, error) {
	const op = "stream.decrypt_begin"
	k := a.ks
	kh, err := k.handle(op)
	if err != nil {
		return nil, err
	}
	var hdr [StreamHeaderLen]byte
	if err := readHeader(hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &Error{Op: op, Code: StatusMalformed}
		}
		return nil, err
	}
	h, st := k.be.StreamDecryptBegin(kh, hdr[:], aad)
	runtime.KeepAlive(k)
	s, err := a.newStreamHandle(op, h, st)
	if err != nil {
		return nil, err
	}
	s.closeOp = "stream.reader_close"
	return s, nil
}

// Read reads decrypted plaintext into p.
func (r *StreamReader) Read(p []byte) (int, error) {
	for r.off == len(r.pt) {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		if len(p) >= r.s.batch*r.s.seg {
			// Big enough for a whole crossing: decrypt straight into p.
			n, err := r.fill(p)
			if n == 0 && err == nil && r.done {
				return 0, io.EOF // an empty last segment
			}
			return n, err
		}
		if _, err := r.fill(nil); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.pt[r.off:])
	r.off += n
	return n, nil
}

// WriteTo writes the whole plaintext to w with no intermediate copy (io.Copy
// uses it). It stops at the first error, having written only authenticated
// plaintext.
func (r *StreamReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.off < len(r.pt) {
			n, err := w.Write(r.pt[r.off:])
			r.off += n
			total += int64(n)
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			return total, r.err
		}
		if r.done {
			return total, nil
		}
		if _, err := r.fill(nil); err != nil {
			return total, err
		}
	}
}

// fill reads the next batch of segments and decrypts it into dst, or into
// r.pt when dst is nil. It returns the plaintext bytes written to dst.
func (r *StreamReader) fill(dst []byte) (int, error) {
	const op = "stream.open"
	c := r.s.seg + StreamTagLen
	want := r.s.batch*c + 1 // one byte past the batch tells whether it is the last
	m, err := io.ReadFull(r.r, r.ct[len(r.ct):want])
	r.ct = r.ct[:len(r.ct)+m]
	last := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		r.err = err
		return 0, err
	}
	body := r.ct
	if !last {
		body = r.ct[:r.s.batch*c]
	}
	h, herr := r.s.live(op)
	if herr != nil {
		r.err = herr
		return 0, herr
	}
	toPT := dst == nil
	if toPT {
		dst = r.pt[:cap(r.pt)]
	}
	n, st := r.s.be.StreamOpen(h, r.next, last, body, dst)
	runtime.KeepAlive(r.s)
	if st != backend.StatusOK {
		r.err = newError(op, st)
		r.pt, r.off = r.pt[:0], 0
		return 0, r.err
	}
	r.next += uint64(segmentsFor(len(body), c, last))
	if last {
		r.done = true
		r.ct = r.ct[:0]
	} else {
		r.ct[0] = r.ct[len(r.ct)-1]
		r.ct = r.ct[:1]
	}
	if toPT {
		r.pt, r.off = r.pt[:n], 0
		return 0, nil
	}
	return n, nil
}

// Close releases the stream. It does not close the underlying reader.
// Idempotent.
func (r *StreamReader) Close() error {
	return r.s.release(r.s.closeOp)
}

// ---------------------------------------------------------- reader at

// StreamReaderAt decrypts any range of a stream held in an io.ReaderAt
// (a file, an object-store client), reading and decrypting only the
// segments the range covers. The stream's length, and so its plaintext
// size, is authenticated when it is opened: its last segment is read and
// checked then. Safe for concurrent use (ReadAt calls in parallel, as
// io.ReaderAt requires); each call holds at most one batch of segments.
type StreamReaderAt struct {
	s    *streamHandle
	r    io.ReaderAt
	size int64 // plaintext bytes
	body int64 // ciphertext bytes after the header
	nseg int64
	bufs sync.Pool
}

type readAtBufs struct{ ct, pt []byte }

// NewReaderAt opens the stream of size bytes in r for random access. A
// stream cut anywhere after its header, or extended, fails here with an
// error matching ErrAuthFailed.
func (a *AEAD) NewReaderAt(r io.ReaderAt, size int64, aad []byte) (*StreamReaderAt, error) {
	s, err := a.beginDecrypt(func(hdr []byte) error {
		if size < StreamHeaderLen {
			return io.ErrUnexpectedEOF
		}
		_, err := readFullAt(r, hdr, 0)
		return err
	}, aad)
	if err != nil {
		return nil, err
	}
	c := int64(s.seg + StreamTagLen)
	body := size - StreamHeaderLen
	nseg := max(1, (body+c-1)/c)
	final := body - (nseg-1)*c
	ra := &StreamReaderAt{s: s, r: r, body: body, nseg: nseg, size: body - nseg*StreamTagLen}
	ra.bufs.New = func() any {
		return &readAtBufs{ct: make([]byte, s.batch*int(c)), pt: make([]byte, s.batch*s.seg)}
	}
	if final < StreamTagLen || (final == StreamTagLen && nseg > 1) || nseg > int64(backend.StreamMaxSegments) {
		_ = s.release("stream.reader_at")
		return nil, &Error{Op: "stream.open", Code: StatusAuthFailed}
	}
	// Authenticate the length now: the last segment opens only as the last.
	if _, err := ra.readSegments(nil, nseg-1, nseg-1, 0); err != nil {
		_ = s.release("stream.reader_at")
		return nil, err
	}
	s.closeOp = "stream.reader_at_close"
	return ra, nil
}

// Size returns the plaintext size (authenticated by NewReaderAt).
func (ra *StreamReaderAt) Size() int64 { return ra.size }

// ReadAt reads len(p) plaintext bytes from offset off. Fewer bytes only at
// the end of the stream, with io.EOF, as io.ReaderAt says.
func (ra *StreamReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &Error{Op: "stream.read_at", Code: StatusInvalidArgument}
	}
	if off >= ra.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), ra.size)
	seg := int64(ra.s.seg)
	batch := int64(ra.s.batch)
	n := 0
	for first := off / seg; off < end; first += batch {
		lastSeg := min(first+batch-1, (end-1)/seg)
		got, err := ra.readSegments(p[n:end-off+int64(n)], first, lastSeg, off-first*seg)
		n += got
		off += int64(got)
		if err != nil {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readSegments decrypts segments first..lastSeg and copies their plaintext,
// from skip bytes into segment first, into p. It returns the bytes copied.
func (ra *StreamReaderAt) readSegments(p []byte, first, lastSeg, skip int64) (int, error) {
	const op = "stream.open"
	c := int64(ra.s.seg + StreamTagLen)
	from := first * c
	to := min((lastSeg+1)*c, ra.body)
	b := ra.bufs.Get().(*readAtBufs)
	defer ra.bufs.Put(b)
	ct := b.ct[:to-from]
	if _, err := readFullAt(ra.r, ct, StreamHeaderLen+from); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The source shrank since NewReaderAt: a truncated stream.
			return 0, &Error{Op: op, Code: StatusAuthFailed}
		}
		return 0, err
	}
	h, err := ra.s.live(op)
	if err != nil {
		return 0, err
	}
	n, st := ra.s.be.StreamOpen(h, uint64(first), lastSeg == ra.nseg-1, ct, b.pt)
	runtime.KeepAlive(ra.s)
	if st != backend.StatusOK {
		return 0, newError(op, st)
	}
	if skip >= int64(n) {
		return 0, nil
	}
	return copy(p, b.pt[skip:n]), nil
}

// readFullAt is io.ReadFull for an io.ReaderAt: an io.EOF that comes with
// every byte requested is success.
func readFullAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close releases the stream. Idempotent.
func (ra *StreamReaderAt) Close() error {
	return ra.s.release(ra.s.closeOp)
}
