package ztoc

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Entry warnings: tar entries soci indexes faithfully but the SOCI snapshotter
// (v0.16.1) serves wrong. The rules live here, once, because two callers
// apply them: Build (so that convert reports them) and verify (which reads
// zTOCs it did not build).
const (
	// WarnEmptyXattr: an extended attribute with an empty value
	// (SCHILY.xattr.NAME=""). The snapshotter's metadata store keeps or drops
	// it depending on Go's map iteration order, so in about half of the pulls
	// its check of the file against the tar header fails ("file attributes do
	// not match tar header") and every read of the file fails with EIO.
	WarnEmptyXattr WarningKind = "empty-xattr"
	// WarnMalformedCapability: a security.capability value whose length does
	// not match its revision (v1 12 bytes, v2 20, v3 24) or whose revision
	// is unknown. The kernel refuses it (setxattr EINVAL), so the file loses
	// its capability.
	WarnMalformedCapability WarningKind = "malformed-capability"
)

const (
	paxXattrPrefix = PAXXattrPrefix
	capabilityKey  = paxXattrPrefix + "security.capability"
)

// Sparse reports whether the entry is a GNU sparse file in PAX form
// (GNU.sparse.* records on a regular entry). soci records its logical size
// over the packed data: the TOC then points past the file's bytes, so reads
// fail, and when that size runs into the next entry the snapshotter rejects
// the whole TOC as overlapping (ErrInvalidTOCEntry).
func (m *FileMetadata) Sparse() bool {
	for k := range m.PAXHeaders {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// EntryWarnings returns, in TOC order, the warnings about entries that the
// snapshotter mis-serves: sparse files (WarnSparseFile), empty xattr values
// (WarnEmptyXattr) and malformed capabilities (WarnMalformedCapability).
// Offsets are the entries' data offsets in the uncompressed tar.
func EntryWarnings(toc []FileMetadata) []Warning {
	var out []Warning
	for i := range toc {
		out = appendEntryWarnings(out, &toc[i])
	}
	return out
}

func appendEntryWarnings(out []Warning, m *FileMetadata) []Warning {
	if len(m.PAXHeaders) == 0 {
		return out
	}
	w := func(k WarningKind, msg string) {
		out = append(out, Warning{Kind: k, Offset: m.UncompressedOffset, Name: m.Name, Message: msg})
	}
	if m.Sparse() {
		w(WarnSparseFile, "sparse file: the TOC records its logical size over the packed data, so reads of it through the SOCI snapshotter return wrong data or fail (EIO), and the snapshotter rejects the layer's zTOC when that size runs into the next entry")
	}
	var empty []string
	for k, v := range m.PAXHeaders {
		if v == "" && strings.HasPrefix(k, paxXattrPrefix) {
			empty = append(empty, strings.TrimPrefix(k, paxXattrPrefix))
		}
	}
	if len(empty) > 0 {
		sort.Strings(empty)
		w(WarnEmptyXattr, fmt.Sprintf("extended attribute %s has an empty value: the SOCI snapshotter drops it in about half of the pulls (Go map order), then fails its check against the tar header and every read of the file fails (EIO)", strings.Join(empty, ", ")))
	}
	if v, ok := m.PAXHeaders[capabilityKey]; ok {
		if why := capabilityProblem([]byte(v)); why != "" {
			w(WarnMalformedCapability, "security.capability "+why+": the kernel refuses it (setxattr EINVAL), so the file loses its capability")
		}
	}
	return out
}

// capabilityProblem checks a vfs_cap_data value: a little-endian magic
// whose top byte is the revision, then 4 bytes per capability set word.
func capabilityProblem(b []byte) string {
	if len(b) < 4 {
		return fmt.Sprintf("is %d bytes, too short for its header", len(b))
	}
	rev := binary.LittleEndian.Uint32(b) >> 24
	want := map[uint32]int{1: 12, 2: 20, 3: 24}[rev]
	switch {
	case want == 0:
		return fmt.Sprintf("has unknown revision %d (%d bytes)", rev, len(b))
	case len(b) != want:
		return fmt.Sprintf("is %d bytes with revision %d magic; revision %d needs %d", len(b), rev, rev, want)
	}
	return ""
}
