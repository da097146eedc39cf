package ztoc

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
)

func capability(rev uint32, n int) string {
	b := make([]byte, n)
	if n >= 4 {
		binary.LittleEndian.PutUint32(b, rev<<24|1) // effective bit set
	}
	return string(b)
}

func TestEntryWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		pax  map[string]string
		want []WarningKind
		msg  string
	}{
		{"plain", nil, nil, ""},
		{"xattr", map[string]string{"SCHILY.xattr.user.k": "v"}, nil, ""},
		{"empty xattr", map[string]string{"SCHILY.xattr.user.empty": "", "SCHILY.xattr.user.b": "", "SCHILY.xattr.user.k": "v"}, []WarningKind{WarnEmptyXattr}, "user.b, user.empty has an empty value"},
		// An empty value of another PAX record is not an xattr.
		{"empty comment", map[string]string{"comment": ""}, nil, ""},
		{"capability v2", map[string]string{capabilityKey: capability(2, 20)}, nil, ""},
		{"capability v3", map[string]string{capabilityKey: capability(3, 24)}, nil, ""},
		{"capability v1", map[string]string{capabilityKey: capability(1, 12)}, nil, ""},
		{"capability v2 short", map[string]string{capabilityKey: capability(2, 8)}, []WarningKind{WarnMalformedCapability}, "8 bytes with revision 2 magic; revision 2 needs 20"},
		{"capability v3 as v2 size", map[string]string{capabilityKey: capability(3, 20)}, []WarningKind{WarnMalformedCapability}, "revision 3 needs 24"},
		{"capability unknown revision", map[string]string{capabilityKey: capability(9, 20)}, []WarningKind{WarnMalformedCapability}, "unknown revision 9"},
		{"capability empty", map[string]string{capabilityKey: ""}, []WarningKind{WarnEmptyXattr, WarnMalformedCapability}, ""},
		{"sparse", map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}, []WarningKind{WarnSparseFile}, "reads of it through the SOCI snapshotter return wrong data or fail (EIO)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toc := []FileMetadata{{Name: "first"}, {Name: "usr/bin/x", UncompressedOffset: 1536, PAXHeaders: tc.pax}}
			ws := EntryWarnings(toc)
			if len(ws) != len(tc.want) {
				t.Fatalf("warnings %v, want kinds %v", ws, tc.want)
			}
			for i, w := range ws {
				if w.Kind != tc.want[i] || w.Name != "usr/bin/x" || w.Offset != 1536 {
					t.Errorf("warning %d: %+v, want kind %s on usr/bin/x at 1536", i, w, tc.want[i])
				}
			}
			if tc.msg != "" && !strings.Contains(ws[0].Message, tc.msg) {
				t.Errorf("message %q lacks %q", ws[0].Message, tc.msg)
			}
		})
	}
}

// TestBuildReportsEntryWarnings: Build applies the same rules, so convert
// reports them for the files concerned.
func TestBuildReportsEntryWarnings(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "ok", PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}},
		{Name: "empty", PAXRecords: map[string]string{"SCHILY.xattr.user.empty": ""}},
		{Name: "ping", PAXRecords: map[string]string{capabilityKey: capability(2, 8)}},
	} {
		h.Typeflag, h.Mode, h.Format = tar.TypeReg, 0o755, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := Build(context.Background(), bytes.NewReader(buf.Bytes()), WithCompression(Uncompressed))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]WarningKind{}
	for _, w := range z.Warnings {
		got[w.Name] = w.Kind
	}
	if len(z.Warnings) != 2 || got["empty"] != WarnEmptyXattr || got["ping"] != WarnMalformedCapability {
		t.Fatalf("warnings %v", z.Warnings)
	}
}
