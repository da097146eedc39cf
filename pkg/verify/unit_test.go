package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/socify/socify/pkg/ztoc"
)

func TestLayerCompression(t *testing.T) {
	cases := []struct {
		mt      string
		comp    string
		isLayer bool
	}{
		{"application/vnd.oci.image.layer.v1.tar+gzip", "gzip", true},
		{"application/vnd.oci.image.layer.v1.tar", "uncompressed", true},
		{"application/vnd.oci.image.layer.v1.tar+zstd", "zstd", true},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip", true},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", "", true},
		{"application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "", true},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip", true},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip", true},
		{"application/vnd.docker.image.rootfs.diff.tar", "uncompressed", true},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", "zstd", true},
		{"application/vnd.oci.image.layer.", "", true},
		{"application/octet-stream", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		comp, isLayer := layerCompression(tc.mt)
		if comp != tc.comp || isLayer != tc.isLayer {
			t.Errorf("%q: %q %v, want %q %v", tc.mt, comp, isLayer, tc.comp, tc.isLayer)
		}
	}
}

func gzipHeaderOf(t *testing.T, h gzip.Header) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Header = h
	must(t, zw.Close())
	return buf.Bytes()
}

func TestGzipHeader(t *testing.T) {
	long := strings.Repeat("n", 600)
	cases := []struct {
		name   string
		b      []byte
		goLen  int // 0: Go rejects
		ownLen int
		why    string
	}{
		{"minimal", gzipHeaderOf(t, gzip.Header{}), 10, 10, ""},
		{"name", gzipHeaderOf(t, gzip.Header{Name: "layer.tar"}), 20, 20, ""},
		{"extra name comment", gzipHeaderOf(t, gzip.Header{Extra: []byte("abcd"), Name: "n", Comment: "c"}), 20, 20, ""},
		{"long name", gzipHeaderOf(t, gzip.Header{Name: long}), 0, 611, "FNAME field is 600 bytes"},
		{"long comment", gzipHeaderOf(t, gzip.Header{Comment: long}), 0, 611, "FCOMMENT field is 600 bytes"},
		{"header crc", append([]byte{0x1f, 0x8b, 8, gzFlagHdrCRC, 0, 0, 0, 0, 0, 0xff}, 0x12, 0x34, 3, 0), 0, 12, "FHCRC"},
		{"truncated", []byte{0x1f, 0x8b, 8, gzFlagName, 0, 0, 0, 0, 0, 0xff, 'a'}, 0, -1, ""},
		{"not gzip", []byte("PK\x03\x04 zip file header"), 0, -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := goGzipHeaderLen(tc.b)
			if (err == nil) != (tc.goLen > 0) || (err == nil && n != tc.goLen) {
				t.Errorf("Go: %d %v, want %d", n, err, tc.goLen)
			}
			h, err := parseGzipHeader(tc.b)
			if (err == nil) != (tc.ownLen > 0) || (err == nil && h.length != tc.ownLen) {
				t.Errorf("parser: %d %v, want %d", h.length, err, tc.ownLen)
			}
			if tc.why != "" && !strings.Contains(h.explainGoReject(), tc.why) {
				t.Errorf("explanation %q lacks %q", h.explainGoReject(), tc.why)
			}
		})
	}
}

func TestCheckSociIndex(t *testing.T) {
	canonical := sociIndexSeeds[0]
	cases := []struct {
		name  string
		raw   string
		ok    bool
		check Check
		msg   string
	}{
		{"canonical", canonical, true, "", ""},
		{"trailing newline", canonical + "\n", false, CheckCanonicalJSON, "trailing newline"},
		{"indented", strings.Replace(canonical, `"config":`, "\n  \"config\": ", 1), false, CheckCanonicalJSON, "whitespace"},
		{"artifactType", strings.Replace(canonical, `"config"`, `"artifactType":"application/vnd.amazon.soci.index.v2+json","config"`, 1), false, CheckCanonicalJSON, "artifactType"},
		{"no mediaType", strings.Replace(canonical, `"mediaType":"application/vnd.oci.image.manifest.v1+json",`, "", 1), false, CheckCanonicalJSON, "mediaType is \"\""},
		{"key order", strings.Replace(canonical, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,`, 1), false, CheckCanonicalJSON, "key order"},
		{"unescaped ampersand", strings.Replace(canonical, `AWS SOCI CLI v0.2`, `a&b`, 1), false, CheckCanonicalJSON, "escaping"},
		{"unknown version", strings.Replace(canonical, `"mediaType":"application/vnd.amazon.soci.index.v2+json"`, `"mediaType":"application/json"`, 1), false, CheckSociIndex, "unknown index version"},
		{"v1 config", strings.Replace(canonical, `index.v2+json`, `index.v1+json`, 1), true, CheckSociIndex, "v1 type"},
		{"not json", `{"schemaVersion":`, false, CheckSociIndex, "does not decode"},
		{"blobs of wrong type", `{"blobs":3}`, false, CheckSociIndex, "does not decode"},
		{"no layers", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`, false, CheckSociIndex, "no zTOC"},
		{"invalid blob digest", strings.Replace(canonical, `"digest":"sha256:f7a0`, `"digest":"sha256:X7a0`, 1), false, CheckZtocDescriptor, "invalid digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, fs, ok := checkSociIndex([]byte(tc.raw))
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v: %+v", ok, tc.ok, fs)
			}
			if tc.check == "" {
				if len(fs) > 0 {
					t.Errorf("findings %+v", fs)
				}
				return
			}
			for _, f := range fs {
				if f.check == tc.check && strings.Contains(f.msg, tc.msg) {
					return
				}
			}
			t.Errorf("no %s finding with %q: %+v", tc.check, tc.msg, fs)
		})
	}
}

func tarZinfoBytes(version int32, span, size int64) []byte {
	b := flatbuffers.NewBuilder(0)
	b.StartObject(3)
	b.PrependInt32Slot(0, version, 0)
	b.PrependInt64Slot(1, span, 0)
	b.PrependInt64Slot(2, size, 0)
	b.Finish(b.EndObject())
	return b.FinishedBytes()
}

func TestParseTarZinfo(t *testing.T) {
	parseTarZinfo := func(b []byte) (ztoc.TarZinfo, error) {
		return (&ztoc.Ztoc{Compression: ztoc.Uncompressed, Checkpoints: b}).TarZinfo()
	}
	type tarZinfo = ztoc.TarZinfo
	z, err := parseTarZinfo(tarZinfoBytes(2, 65536, 1013248))
	if err != nil || z != (tarZinfo{Version: 2, SpanSize: 65536, Size: 1013248}) {
		t.Fatalf("%+v %v", z, err)
	}
	// The 48 bytes of spec §2.3.
	spec := []byte{0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0x1c, 0, 0x18, 0, 0x0c, 0, 0x04, 0, 0x0a, 0, 0, 0, 0, 0x76, 0x0f, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}
	if z, err := parseTarZinfo(spec); err != nil || z != (tarZinfo{Version: 2, SpanSize: 65536, Size: 1013248}) {
		t.Fatalf("spec bytes: %+v %v", z, err)
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 16)} {
		if _, err := parseTarZinfo(b); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}

// TestAnalyzeTarZtoc covers the uncompressed zinfo rules on zTOCs built and
// then altered.
func TestAnalyzeTarZtoc(t *testing.T) {
	layer := makeTar(t, 1, fileSpec{name: "a", size: 5000})
	z, err := ztoc.Build(context.Background(), bytes.NewReader(layer), ztoc.WithCompression(ztoc.Uncompressed), ztoc.WithSpanSize(1024))
	must(t, err)
	cases := []struct {
		name  string
		edit  func(z *ztoc.Ztoc)
		check Check
		msg   string
	}{
		{"valid", func(*ztoc.Ztoc) {}, "", ""},
		{"span size 0", func(z *ztoc.Ztoc) { z.Checkpoints = tarZinfoBytes(2, 0, int64(len(layer))) }, CheckCheckpoints, "divides"},
		{"size mismatch", func(z *ztoc.Ztoc) { z.Checkpoints = tarZinfoBytes(2, 1024, int64(len(layer))+1) }, CheckCheckpoints, "span boundaries"},
		{"garbage zinfo", func(z *ztoc.Ztoc) { z.Checkpoints = []byte{9} }, CheckCheckpoints, "does not decode"},
		{"max span id", func(z *ztoc.Ztoc) { z.MaxSpanID = 2 }, CheckMaxSpanID, "checkpoints give"},
		{"version", func(z *ztoc.Ztoc) { z.Version = "1.0" }, CheckZtocFormat, "version"},
		{"file past end", func(z *ztoc.Ztoc) { z.TOC[0].UncompressedSize = 1 << 20 }, CheckTOC, "past its end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *z
			c.TOC = append([]ztoc.FileMetadata(nil), z.TOC...)
			tc.edit(&c)
			b, err := ztoc.Marshal(&c)
			must(t, err)
			s := analyzeZtoc("sha256:x", b)
			if tc.check == "" {
				n := (len(layer) + 1023) / 1024
				if len(s.findings) > 0 || s.fatal || len(s.spans) != n || s.spans[n-1].end != int64(len(layer)) {
					t.Fatalf("%+v %+v", s.findings, s.spans)
				}
				return
			}
			for _, f := range s.findings {
				if f.check == tc.check && strings.Contains(f.msg, tc.msg) {
					return
				}
			}
			t.Errorf("no %s finding with %q: %+v", tc.check, tc.msg, s.findings)
		})
	}
}

// TestGzipCheckpointRules: rules on the gzip zinfo that need no layer.
func TestGzipCheckpointRules(t *testing.T) {
	layer := gzipBytes(t, makeTar(t, 2, fileSpec{name: "a", size: 300000, random: true}), gzip.BestSpeed, "")
	z, err := ztoc.Build(context.Background(), bytes.NewReader(layer), ztoc.WithSpanSize(65536))
	must(t, err)
	if z.MaxSpanID < 2 {
		t.Fatalf("want several spans, got %d", z.MaxSpanID+1)
	}
	const rec = 32785
	cases := []struct {
		name  string
		edit  func(z *ztoc.Ztoc)
		check Check
		msg   string
	}{
		{"valid", func(*ztoc.Ztoc) {}, "", ""},
		{"legacy v1 blob", func(z *ztoc.Ztoc) {
			// Drop checkpoint 0: soci's v1 writer omitted it.
			z.Checkpoints = append(append([]byte(nil), z.Checkpoints[:12]...), z.Checkpoints[12+rec:]...)
		}, CheckCheckpoints, "legacy v1"},
		{"bad length", func(z *ztoc.Ztoc) { z.Checkpoints = z.Checkpoints[:len(z.Checkpoints)-1] }, CheckCheckpoints, "does not decode"},
		{"no checkpoint", func(z *ztoc.Ztoc) { z.Checkpoints = make([]byte, 12) }, CheckCheckpoints, "no checkpoint"},
		{"out of order", func(z *ztoc.Ztoc) {
			binary.LittleEndian.PutUint64(z.Checkpoints[12+2*rec:], 20) // in of checkpoint 2
		}, CheckCheckpoints, "does not advance"},
		{"bits", func(z *ztoc.Ztoc) { z.Checkpoints[12+rec+16] = 9 }, CheckCheckpoints, "bits=9"},
		{"checkpoint 0 out", func(z *ztoc.Ztoc) { binary.LittleEndian.PutUint64(z.Checkpoints[12+8:], 5) }, CheckCheckpoints, "uncompressed offset 5"},
		{"checkpoint 0 bits", func(z *ztoc.Ztoc) { z.Checkpoints[12+16] = 3 }, CheckGzipHeader, "pending bits"},
		{"last past end", func(z *ztoc.Ztoc) {
			last := 12 + int(z.MaxSpanID)*rec
			binary.LittleEndian.PutUint64(z.Checkpoints[last:], uint64(len(layer)+5))
		}, CheckCheckpoints, "past the compressed size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *z
			c.Checkpoints = bytes.Clone(z.Checkpoints)
			tc.edit(&c)
			b, err := ztoc.Marshal(&c)
			must(t, err)
			s := analyzeZtoc("sha256:x", b)
			if tc.check == "" {
				if len(s.findings) > 0 || len(s.spans) != int(z.MaxSpanID)+1 || s.spans[0].start != 10 {
					t.Fatalf("%+v", s.findings)
				}
				return
			}
			for _, f := range s.findings {
				if f.check == tc.check && strings.Contains(f.msg, tc.msg) {
					return
				}
			}
			t.Errorf("no %s finding with %q: %+v", tc.check, tc.msg, s.findings)
		})
	}
}

// TestSpanVerifierChunking: the streaming span check gives the same answer
// whatever the read sizes, including spans that share a byte.
func TestSpanVerifierChunking(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	ranges := [][2]int64{{10, 300}, {299, 600}, {600, 600}, {600, 1000}}
	z := &ztocState{}
	for _, r := range ranges {
		z.spans = append(z.spans, span{start: r[0], end: r[1], digest: spanDigest(data[r[0]:r[1]])})
	}
	z.spans = append(z.spans, span{start: 1000, end: 1000, digest: spanDigest(nil)})
	for _, chunk := range []int{1, 7, 299, 300, 1000} {
		v := &spanVerifier{z: z}
		for pos := 0; pos < len(data); pos += chunk {
			v.write(int64(pos), data[pos:min(pos+chunk, len(data))])
		}
		fs, n := v.finish(int64(len(data)))
		if len(fs) > 0 || n != len(z.spans) {
			t.Errorf("chunk %d: %d checked, %+v", chunk, n, fs)
		}
	}
	z.spans[1].digest = spanDigest([]byte("other"))
	z.spans = append(z.spans, span{start: 1000, end: 1200, digest: "x"})
	v := &spanVerifier{z: z}
	v.write(0, data)
	fs, _ := v.finish(int64(len(data)))
	if len(fs) != 2 || *fs[0].span != 1 || !strings.Contains(fs[1].msg, "past the end") {
		t.Fatalf("%+v", fs)
	}
}
