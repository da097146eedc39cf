package ztoc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Info describes a serialized zTOC: header fields, the compressed byte
// range and digest of every span, and the gzip checkpoints (`socify ztoc
// info`).
type Info struct {
	Digest                  string           `json:"digest"`
	Size                    int64            `json:"size"`
	Version                 string           `json:"version"`
	BuildToolIdentifier     string           `json:"buildToolIdentifier"`
	Compression             string           `json:"compression"`
	CompressedArchiveSize   int64            `json:"compressedArchiveSize"`
	UncompressedArchiveSize int64            `json:"uncompressedArchiveSize"`
	SpanSize                int64            `json:"spanSize"`
	SpanCount               int              `json:"spanCount"`
	FileCount               int              `json:"fileCount"`
	Spans                   []SpanInfo       `json:"spans"`
	Checkpoints             []CheckpointInfo `json:"checkpoints,omitempty"`
}

// CheckpointInfo is a gzip checkpoint without its window: compressed offset
// (in), uncompressed offset (out) and the bit offset inside the byte before
// in (bits).
type CheckpointInfo struct {
	In   int64 `json:"in"`
	Out  int64 `json:"out"`
	Bits uint8 `json:"bits"`
}

// SpanInfo is one span: its compressed byte range and digest.
type SpanInfo struct {
	ID     int    `json:"id"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Digest string `json:"digest"`
}

// Describe decodes the serialized zTOC b and describes it.
func Describe(b []byte) (*Info, error) {
	z, err := Unmarshal(b)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	info := &Info{
		Digest:                  "sha256:" + hex.EncodeToString(sum[:]),
		Size:                    int64(len(b)),
		Version:                 z.Version,
		BuildToolIdentifier:     z.BuildToolIdentifier,
		Compression:             string(z.Compression),
		CompressedArchiveSize:   z.CompressedArchiveSize,
		UncompressedArchiveSize: z.UncompressedArchiveSize,
		SpanCount:               int(z.MaxSpanID) + 1,
		FileCount:               len(z.TOC),
		Spans:                   []SpanInfo{},
	}
	if info.SpanSize, err = z.SpanSize(); err != nil {
		return nil, err
	}
	for i := 0; i <= int(z.MaxSpanID); i++ {
		start, end, err := z.SpanRange(i)
		if err != nil {
			return nil, err
		}
		sp := SpanInfo{ID: i, Start: start, End: end}
		if i < len(z.SpanDigests) {
			sp.Digest = z.SpanDigests[i]
		}
		info.Spans = append(info.Spans, sp)
	}
	if z.Compression != Uncompressed {
		cps, err := z.GzipCheckpoints()
		if err != nil {
			return nil, err
		}
		info.Checkpoints = make([]CheckpointInfo, len(cps))
		for i, cp := range cps {
			info.Checkpoints[i] = CheckpointInfo{In: cp.In, Out: cp.Out, Bits: cp.Bits}
		}
	}
	return info, nil
}

// WriteText writes the description as aligned text: the header, then one
// line per span (with its checkpoint for gzip layers).
func (in *Info) WriteText(w io.Writer, name string) error {
	t := &textWriter{w: w}
	t.printf("zTOC:                  %s (%s, %d bytes)\n", name, in.Digest, in.Size)
	t.printf("version:               %s\n", in.Version)
	t.printf("build tool identifier: %s\n", in.BuildToolIdentifier)
	t.printf("compression:           %s\n", in.Compression)
	t.printf("layer size:            %d compressed, %d uncompressed\n", in.CompressedArchiveSize, in.UncompressedArchiveSize)
	t.printf("span size:             %d\n", in.SpanSize)
	t.printf("spans:                 %d\n", in.SpanCount)
	t.printf("files:                 %d\n", in.FileCount)
	if len(in.Checkpoints) > 0 {
		t.printf("%-5s %12s %12s %14s %4s  %s\n", "SPAN", "START", "END", "OUT", "BITS", "DIGEST")
	} else {
		t.printf("%-5s %12s %12s  %s\n", "SPAN", "START", "END", "DIGEST")
	}
	for i, sp := range in.Spans {
		if i < len(in.Checkpoints) {
			cp := in.Checkpoints[i]
			t.printf("%-5d %12d %12d %14d %4d  %s\n", sp.ID, sp.Start, sp.End, cp.Out, cp.Bits, sp.Digest)
		} else {
			t.printf("%-5d %12d %12d  %s\n", sp.ID, sp.Start, sp.End, sp.Digest)
		}
	}
	return t.err
}

// Entry is a TOC entry as `socify ztoc list --output json` shows it.
type Entry struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Mode       string            `json:"mode"`
	Size       int64             `json:"size"`
	Offset     int64             `json:"offset"`
	UID        uint32            `json:"uid"`
	GID        uint32            `json:"gid"`
	Uname      string            `json:"uname,omitempty"`
	Gname      string            `json:"gname,omitempty"`
	ModTime    time.Time         `json:"modTime"`
	Linkname   string            `json:"linkname,omitempty"`
	Devmajor   int64             `json:"devmajor,omitempty"`
	Devminor   int64             `json:"devminor,omitempty"`
	PAXHeaders map[string]string `json:"paxHeaders,omitempty"`
}

// Entries lists the TOC of z.
func (z *Ztoc) Entries() []Entry {
	entries := make([]Entry, len(z.TOC))
	for i, m := range z.TOC {
		entries[i] = Entry{
			Name: m.Name, Type: m.Type, Mode: fmt.Sprintf("%04o", m.Mode&0o7777),
			Size: m.UncompressedSize, Offset: m.UncompressedOffset,
			UID: m.UID, GID: m.GID, Uname: m.Uname, Gname: m.Gname,
			ModTime: m.ModTime.UTC(), Linkname: m.Linkname,
			Devmajor: m.Devmajor, Devminor: m.Devminor, PAXHeaders: m.PAXHeaders,
		}
	}
	return entries
}

// WriteList writes the TOC of z in the form of "tar tv": mode,
// owner/group, size (major,minor for devices), modification time in UTC,
// name, and the link target.
func (z *Ztoc) WriteList(w io.Writer) error {
	t := &textWriter{w: w}
	lines := make([][3]string, len(z.TOC))
	width := 0
	for i, m := range z.TOC {
		lines[i] = tarTVFields(m)
		width = max(width, len(lines[i][1]))
	}
	for i, m := range z.TOC {
		name := m.Name
		switch m.Type {
		case "symlink":
			name += " -> " + m.Linkname
		case "hardlink":
			name += " link to " + m.Linkname
		}
		t.printf("%s %-*s %s %s\n", lines[i][0], width, lines[i][1], lines[i][2], name)
	}
	return t.err
}

// tarTVFields returns the mode string, "owner/group size" and the time of a
// TOC entry as "tar tv" shows them. The time is in UTC, so that listings do
// not depend on the machine's time zone.
func tarTVFields(m FileMetadata) [3]string {
	owner := m.Uname
	if owner == "" {
		owner = strconv.FormatUint(uint64(m.UID), 10)
	}
	group := m.Gname
	if group == "" {
		group = strconv.FormatUint(uint64(m.GID), 10)
	}
	size := strconv.FormatInt(m.UncompressedSize, 10)
	if m.Type == "char" || m.Type == "block" {
		size = fmt.Sprintf("%d,%d", m.Devmajor, m.Devminor)
	}
	// GNU tar right-aligns the size after owner/group; pad to a common
	// width so the names line up.
	og := owner + "/" + group
	field := og + strings.Repeat(" ", max(1, 19-len(og)-len(size))) + size
	return [3]string{ModeString(m.Type, m.Mode), field, m.ModTime.UTC().Format("2006-01-02 15:04")}
}

// ModeString renders a TOC entry's type and mode as "tar tv" and "ls -l"
// do ("drwxr-xr-x", "-rwsr-xr-x").
func ModeString(typ string, mode int64) string {
	var b [10]byte
	switch typ {
	case "dir":
		b[0] = 'd'
	case "symlink":
		b[0] = 'l'
	case "hardlink":
		b[0] = 'h'
	case "char":
		b[0] = 'c'
	case "block":
		b[0] = 'b'
	case "fifo":
		b[0] = 'p'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	special := func(bit int64, pos int, set, unsetX byte) {
		if mode&bit == 0 {
			return
		}
		if b[pos] == 'x' {
			b[pos] = set
		} else {
			b[pos] = unsetX
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b[:])
}

// Resolve finds the TOC entry for path, accepting "/etc/x", "./etc/x" and
// "etc/x" for the same entry, since layers differ in how they spell names
// and users rarely know which form a layer uses.
func (r *Reader) Resolve(path string) (string, error) {
	bare := strings.TrimPrefix(strings.TrimLeft(path, "/"), "./")
	for _, cand := range []string{path, bare, "./" + bare, "/" + bare} {
		if _, err := r.Lookup(cand); err == nil {
			return cand, nil
		}
	}
	_, err := r.Lookup(path)
	return "", err
}

// NotZtoc says what b is when it is plainly not a zTOC (a tar archive, a
// gzip stream), so that a zTOC reader can answer better than "malformed
// flatbuffer". It returns "" when b may be a zTOC.
func NotZtoc(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return "this is a gzip stream (a layer blob?)"
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd:
		return "this is a zstd stream (a layer blob?)"
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		return "this is a tar archive"
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return "this is JSON (a manifest or index?)"
	}
	return ""
}

type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}
