package verify

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxGoGzipHeader is the longest gzip header Go's compress/gzip accepts: the
// fixed 10 bytes, FEXTRA (2 + 65535), FNAME and FCOMMENT (at most 511 bytes
// each plus the NUL: Go reads strings into a 512-byte buffer) and FHCRC.
// The snapshotter checks the header with Go's gzip.NewReader, so no valid
// checkpoint 0 can lie further.
const maxGoGzipHeader = 10 + 2 + 65535 + 512 + 512 + 2

const (
	gzFlagText    = 1 << 0
	gzFlagHdrCRC  = 1 << 1
	gzFlagExtra   = 1 << 2
	gzFlagName    = 1 << 3
	gzFlagComment = 1 << 4
)

// goGzipHeaderLen is the number of bytes Go's gzip.NewReader consumes for the
// header at the start of b, which is what the snapshotter's header check
// (compression.GzipZinfo.VerifyHeader) runs on.
func goGzipHeaderLen(b []byte) (int, error) {
	r := bytes.NewReader(b)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, err
	}
	_ = zr.Close()
	return len(b) - r.Len(), nil
}

// gzipHeaderInfo parses an RFC 1952 header without Go's string limit, to
// explain why Go rejects a header that zlib (soci's builder) accepts.
type gzipHeaderInfo struct {
	length  int
	flags   byte
	nameLen int
	comLen  int
	xlen    int
}

var errShortHeader = errors.New("gzip header longer than the data available")

func parseGzipHeader(b []byte) (gzipHeaderInfo, error) {
	var h gzipHeaderInfo
	if len(b) < 10 {
		return h, errShortHeader
	}
	if b[0] != 0x1f || b[1] != 0x8b {
		return h, fmt.Errorf("not gzip: magic bytes %#02x %#02x", b[0], b[1])
	}
	if b[2] != 8 {
		return h, fmt.Errorf("gzip compression method %d, not deflate (8)", b[2])
	}
	h.flags = b[3]
	p := 10
	if h.flags&gzFlagExtra != 0 {
		if len(b) < p+2 {
			return h, errShortHeader
		}
		h.xlen = int(binary.LittleEndian.Uint16(b[p:]))
		p += 2 + h.xlen
		if p > len(b) {
			return h, errShortHeader
		}
	}
	str := func() (int, error) {
		i := bytes.IndexByte(b[p:], 0)
		if i < 0 {
			return 0, errShortHeader
		}
		p += i + 1
		return i, nil
	}
	var err error
	if h.flags&gzFlagName != 0 {
		if h.nameLen, err = str(); err != nil {
			return h, err
		}
	}
	if h.flags&gzFlagComment != 0 {
		if h.comLen, err = str(); err != nil {
			return h, err
		}
	}
	if h.flags&gzFlagHdrCRC != 0 {
		p += 2
		if p > len(b) {
			return h, errShortHeader
		}
	}
	h.length = p
	return h, nil
}

// explainGoReject names the header feature Go's reader refuses.
func (h gzipHeaderInfo) explainGoReject() string {
	switch {
	case h.nameLen > 511:
		return fmt.Sprintf("the FNAME field is %d bytes; Go's gzip reader accepts at most 511", h.nameLen)
	case h.comLen > 511:
		return fmt.Sprintf("the FCOMMENT field is %d bytes; Go's gzip reader accepts at most 511", h.comLen)
	case h.flags&gzFlagHdrCRC != 0:
		return "the FHCRC header checksum is wrong"
	}
	return ""
}
