// Package ztoc builds, serializes and reads zTOCs: the per-layer table of
// contents plus compression checkpoints that let the SOCI snapshotter fetch and
// inflate any span of a container image layer on its own.
//
// The serialized form is byte-identical to what soci-snapshotter's ztoc
// package (v0.16.1) writes for the same layer, span size and build-tool
// identifier when soci runs with TZ=UTC. Unlike soci, the builder is pure Go,
// reads the layer once as a stream and needs no temporary file.
package ztoc

import (
	"fmt"
	"strings"
	"time"
)

// Version09 is the only zTOC version soci defines.
const Version09 = "0.9"

// DefaultSpanSize is soci's default span size: 4 MiB of uncompressed data.
const DefaultSpanSize int64 = 1 << 22

// SociBuildToolIdentifier is the identifier the soci CLI writes. Use it to get
// output byte-identical to `soci convert`.
const SociBuildToolIdentifier = "AWS SOCI CLI v0.2"

// Compression names the layer compression a zTOC describes.
type Compression string

const (
	// Gzip layers carry deflate checkpoints (zran style).
	Gzip Compression = "gzip"
	// Uncompressed tar layers are cut into fixed-size spans.
	Uncompressed Compression = "uncompressed"
)

// Ztoc is a decoded zTOC.
type Ztoc struct {
	Version                 string
	BuildToolIdentifier     string
	CompressedArchiveSize   int64
	UncompressedArchiveSize int64
	TOC                     []FileMetadata

	// Compression is the layer's compression. "" is serialized like Gzip
	// (the flatbuffer default) and Unmarshal always reports a non-empty value.
	Compression Compression
	// MaxSpanID is the number of spans minus one.
	MaxSpanID int32
	// SpanDigests holds "sha256:<hex>" of the compressed bytes of each span.
	SpanDigests []string
	// Checkpoints is the serialized zinfo: the gzip checkpoint blob, or the
	// nested TarZinfo flatbuffer for uncompressed layers.
	Checkpoints []byte

	// The fields below are not part of the serialized zTOC.

	// Warnings lists conditions under which the SOCI snapshotter will reject or
	// mis-serve this zTOC although soci would write it the same way.
	Warnings []Warning
	// BlobDigest is "sha256:<hex>" of every byte Build read, so callers can
	// verify the layer digest without hashing the stream again.
	BlobDigest string
}

// FileMetadata is one TOC entry: one header returned by archive/tar's Next.
type FileMetadata struct {
	Name               string
	Type               string // reg, dir, symlink, hardlink, char, block, fifo
	UncompressedOffset int64  // first byte of the entry's data in the tar
	UncompressedSize   int64
	// TarHeaderOffset is not serialized; Unmarshal recomputes it as soci does.
	TarHeaderOffset int64
	Linkname        string
	Mode            int64
	UID             uint32
	GID             uint32
	Uname           string
	Gname           string
	ModTime         time.Time
	Devmajor        int64
	Devminor        int64
	// PAXHeaders holds every PAX record of the entry (the "xattrs" field of the
	// flatbuffer), not only SCHILY.xattr.* ones.
	PAXHeaders map[string]string
}

// soci keeps xattrs enabled for a layer (no com.amazon.soci.disable-xattrs)
// when an entry is an opaque-directory whiteout or has a PAX record with
// this prefix (its shouldDisableXattrs); the builder, the converter and the
// verifier apply that one rule.
const (
	OpaqueWhiteout = ".wh..wh..opq"
	PAXXattrPrefix = "SCHILY.xattr."
)

// XattrEntry names the first entry that makes soci keep xattrs enabled for
// the layer, if any (see OpaqueWhiteout).
func (z *Ztoc) XattrEntry() (string, bool) {
	for _, e := range z.TOC {
		if strings.HasSuffix(e.Name, OpaqueWhiteout) {
			return e.Name, true
		}
		for k := range e.PAXHeaders {
			if strings.HasPrefix(k, PAXXattrPrefix) {
				return e.Name, true
			}
		}
	}
	return "", false
}

// WarningKind classifies a Warning.
type WarningKind string

const (
	// WarnDuplicateZeroCheckpoints: several checkpoints at uncompressed offset 0
	// (a stream that starts with empty deflate blocks or an empty gzip member).
	// The snapshotter rejects such a zTOC as non-monotonic.
	WarnDuplicateZeroCheckpoints WarningKind = "duplicate-zero-checkpoints"
	// WarnSparseFile: a GNU/PAX sparse entry; soci records its logical size, so
	// reads of the file fail, or the snapshotter rejects the TOC (see
	// FileMetadata.Sparse). Other entry warnings are in entrywarnings.go.
	WarnSparseFile WarningKind = "sparse-file"
)

// Warning is a condition the caller may act on; the zTOC is still written as
// soci would write it.
type Warning struct {
	Kind WarningKind
	// Offset is a compressed offset for checkpoint warnings, the entry's data
	// offset in the uncompressed tar for entry warnings.
	Offset int64
	// Name is the tar entry concerned, if any.
	Name    string
	Message string
}

func (w Warning) String() string {
	if w.Name != "" {
		return fmt.Sprintf("%s: %s (entry %q, offset %d)", w.Kind, w.Message, w.Name, w.Offset)
	}
	return fmt.Sprintf("%s: %s (offset %d)", w.Kind, w.Message, w.Offset)
}

// FormatError reports malformed layer data. Offsets locate the fault.
type FormatError struct {
	// CompressedOffset is the byte offset in the layer blob where decoding failed.
	CompressedOffset int64
	// UncompressedOffset is the offset in the uncompressed tar stream, or -1.
	UncompressedOffset int64
	Msg                string
	Err                error
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("at layer offset %d", e.CompressedOffset)
	if e.UncompressedOffset >= 0 {
		s += fmt.Sprintf(" (tar offset %d)", e.UncompressedOffset)
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }
