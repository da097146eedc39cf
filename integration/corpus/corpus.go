// Package corpus generates the layers the zTOC differential tests run on:
// tar streams covering every entry type and header encoding, compressed by
// every gzip implementation in use (Go, klauspost, pgzip, GNU gzip, pigz),
// with multi-member streams, every gzip header variant, hand-made deflate
// block layouts, and malformed inputs. Generation is deterministic: seeded
// content, fixed mtimes, gzip -n.
package corpus

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Compression names as soci's ztoc.WithCompression takes them.
const (
	Gzip         = "gzip"
	Uncompressed = "uncompressed"
)

// Span sets the tests run each layer with.
var (
	// DefaultSpans covers soci's smallest common span, 1 MiB and the default.
	DefaultSpans = []int64{65536, 1 << 20, 4194304}
	// AllSpans adds a span smaller than a deflate window and not a multiple
	// of 512, for small layers.
	AllSpans = []int64{10000, 65536, 1 << 20, 4194304}
)

// Layer is one generated layer blob.
type Layer struct {
	Name        string
	Compression string // Gzip or Uncompressed
	Blob        []byte
	// Tar is the uncompressed stream Blob decodes to (for gzip: all members
	// concatenated), used to check extracted files. Nil for blobs that do
	// not decode.
	Tar   []byte
	Spans []int64
	// WantError: soci's builder rejects this blob, so ours must too.
	WantError bool
	// GoGzipRejects: compress/gzip cannot read the whole stream (a member
	// after the tar's end that only zlib takes), though soci accepts it.
	GoGzipRejects bool
}

// Options selects the corpus size.
type Options struct {
	// Large adds the multi-MiB layers.
	Large bool
}

type builder struct {
	ctx    context.Context
	layers []Layer
	err    error
}

func (b *builder) add(l Layer, err error) {
	if b.err != nil {
		return
	}
	if err != nil {
		b.err = fmt.Errorf("corpus layer %s: %w", l.Name, err)
		return
	}
	if l.Spans == nil {
		l.Spans = DefaultSpans
		if len(l.Blob) < 4<<20 && len(l.Tar) < 8<<20 {
			l.Spans = AllSpans
		}
	}
	if l.Compression == "" {
		l.Compression = Gzip
	}
	b.layers = append(b.layers, l)
}

// Generate builds the corpus. It needs gzip and pigz in PATH.
func Generate(ctx context.Context, opt Options) ([]Layer, error) {
	b := &builder{ctx: ctx}
	mixed, err := MixedTar(1, 1200<<10)
	if err != nil {
		return nil, err
	}
	mixedSmall, err := MixedTar(2, 250<<10)
	if err != nil {
		return nil, err
	}

	// Compressor matrix over the mixed tar.
	for _, lv := range []int{-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9} {
		blob, err := GoGzip(mixed, lv)
		b.add(Layer{Name: fmt.Sprintf("mixed/go-gzip-%d", lv), Blob: blob, Tar: mixed}, err)
	}
	for _, lv := range []int{-3, -2, 0, 1, 3, 6, 9} {
		blob, err := KlauspostGzip(mixed, lv)
		b.add(Layer{Name: fmt.Sprintf("mixed/klauspost-gzip-%d", lv), Blob: blob, Tar: mixed}, err)
	}
	for _, c := range []struct{ level, block int }{{6, 0}, {6, 65536}, {1, 100000}, {9, 300000}} {
		blob, err := Pgzip(mixed, c.level, c.block)
		b.add(Layer{Name: fmt.Sprintf("mixed/pgzip-%d-block%d", c.level, c.block), Blob: blob, Tar: mixed}, err)
	}
	for _, lv := range []int{1, 6, 9} {
		blob, err := GNUGzip(ctx, mixed, lv)
		b.add(Layer{Name: fmt.Sprintf("mixed/gnu-gzip-%d", lv), Blob: blob, Tar: mixed}, err)
	}
	for _, args := range [][]string{nil, {"-1"}, {"-9"}, {"-i"}, {"-b", "32"}, {"--rsyncable"}, {"-0"}} {
		blob, err := Pigz(ctx, mixed, args...)
		b.add(Layer{Name: "mixed/pigz" + strings.Join(args, ""), Blob: blob, Tar: mixed}, err)
	}
	b.add(Layer{Name: "mixed/uncompressed", Compression: Uncompressed, Blob: mixed, Tar: mixed}, nil)

	// Gzip header variants (Go deflate level 6 body).
	body, err := Deflate(mixedSmall, 6)
	if err != nil {
		return nil, err
	}
	bigExtra := make([]byte, 65535)
	for i := range bigExtra {
		bigExtra[i] = byte(i * 7)
	}
	for _, h := range []struct {
		name string
		h    GzipHeader
	}{
		{"plain", GzipHeader{OS: 255}},
		{"fname", GzipHeader{Name: "layer.tar", OS: 3}},
		{"fcomment", GzipHeader{Comment: "made by the corpus generator", OS: 3}},
		{"fextra", GzipHeader{Extra: []byte("AB\x04\x00wxyz"), OS: 3}},
		{"fextra-empty", GzipHeader{Extra: []byte{}, OS: 3}},
		// Larger than zlib's 16 KiB read chunk in soci: the header spans reads.
		{"fextra-64k", GzipHeader{Extra: bigExtra, OS: 3}},
		{"fhcrc", GzipHeader{HCRC: true, OS: 3}},
		{"mtime-xfl", GzipHeader{MTime: 1700000000, XFL: 2, OS: 0}},
		{"all-flags", GzipHeader{Name: strings.Repeat("n", 300), Comment: strings.Repeat("c", 511), Extra: bigExtra[:1000], MTime: 1, HCRC: true, XFL: 4, OS: 11}},
	} {
		b.add(Layer{Name: "header/" + h.name, Blob: Member(h.h, body, mixedSmall), Tar: mixedSmall}, nil)
	}
	// Go's gzip reader (soci's TOC pass) rejects an FNAME or FCOMMENT of 512
	// bytes or more, although zlib takes it: soci fails these layers.
	for _, h := range []struct {
		name string
		h    GzipHeader
	}{
		{"fname-512", GzipHeader{Name: strings.Repeat("n", 512)}},
		{"fcomment-20000", GzipHeader{Comment: strings.Repeat("c", 20000)}},
	} {
		b.add(Layer{Name: "header/" + h.name, Blob: Member(h.h, body, mixedSmall), WantError: true, Spans: []int64{65536}}, nil)
	}

	// Sync markers and empty leading blocks.
	blob, err := GoGzipFlushing(mixedSmall, 6, true, 0)
	b.add(Layer{Name: "flush/go-flush-first", Blob: blob, Tar: mixedSmall}, err)
	blob, err = GoGzipFlushing(mixedSmall, 6, false, 10000)
	b.add(Layer{Name: "flush/go-flush-every-10000", Blob: blob, Tar: mixedSmall}, err)
	blob, err = GoGzipFlushing(mixedSmall, 1, true, 65536)
	b.add(Layer{Name: "flush/go-flush-first-and-every-65536", Blob: blob, Tar: mixedSmall}, err)
	blob, err = GoGzipFlushing(mixedSmall, 0, false, 1000)
	b.add(Layer{Name: "flush/go-stored-flush-every-1000", Blob: blob, Tar: mixedSmall}, err)

	// Hand-made block layouts: boundaries exactly at and just past the span
	// size (the strict '>' rule), fixed blocks ending at every bit offset,
	// empty blocks at the start and in the middle.
	for _, hd := range handDeflates(mixedSmall) {
		b.add(Layer{Name: "hand/" + hd.name, Blob: Member(GzipHeader{OS: 3}, HandDeflate(hd.blocks), mixedSmall), Tar: mixedSmall}, nil)
	}

	// Multi-member streams.
	b.addMultiMember(mixed, mixedSmall)

	// Tar variants.
	small, err := SmallFilesTar(3, 1500)
	if err != nil {
		return nil, err
	}
	blob, err = GoGzip(small, 6)
	b.add(Layer{Name: "small-files/go-gzip-6", Blob: blob, Tar: small}, err)
	blob, err = GNUGzip(ctx, small, 6)
	b.add(Layer{Name: "small-files/gnu-gzip-6", Blob: blob, Tar: small}, err)
	blob, err = Pigz(ctx, small)
	b.add(Layer{Name: "small-files/pigz", Blob: blob, Tar: small}, err)
	b.add(Layer{Name: "small-files/uncompressed", Compression: Uncompressed, Blob: small, Tar: small}, nil)

	empty, _ := EmptyTar()
	blob, err = GoGzip(empty, 6)
	b.add(Layer{Name: "empty-tar/go-gzip-6", Blob: blob, Tar: empty}, err)
	blob, err = GNUGzip(ctx, empty, 9)
	b.add(Layer{Name: "empty-tar/gnu-gzip-9", Blob: blob, Tar: empty}, err)
	blob, err = Pigz(ctx, empty)
	b.add(Layer{Name: "empty-tar/pigz", Blob: blob, Tar: empty}, err)
	blob, err = KlauspostGzip(empty, 1)
	b.add(Layer{Name: "empty-tar/klauspost-gzip-1", Blob: blob, Tar: empty}, err)
	b.add(Layer{Name: "empty-tar/uncompressed", Compression: Uncompressed, Blob: empty, Tar: empty}, nil)
	blob, err = GoGzip(nil, 6)
	b.add(Layer{Name: "empty-payload/go-gzip-6", Blob: blob, Tar: []byte{}}, err)
	blob, err = GNUGzip(ctx, nil, 6)
	b.add(Layer{Name: "empty-payload/gnu-gzip-6", Blob: blob, Tar: []byte{}}, err)
	b.add(Layer{Name: "empty-payload/uncompressed", Compression: Uncompressed, Blob: []byte{}, Tar: []byte{}}, nil)

	weird, _ := WeirdTar(4)
	blob, err = GoGzip(weird, 6)
	b.add(Layer{Name: "weird/go-gzip-6", Blob: blob, Tar: weird}, err)
	b.add(Layer{Name: "weird/uncompressed", Compression: Uncompressed, Blob: weird, Tar: weird}, nil)

	sparse, _ := PAXSparseTar(5)
	blob, err = GoGzip(sparse, 6)
	b.add(Layer{Name: "pax-sparse/go-gzip-6", Blob: blob, Tar: sparse}, err)
	b.add(Layer{Name: "pax-sparse/uncompressed", Compression: Uncompressed, Blob: sparse, Tar: sparse}, nil)

	blocked := GNUBlockedTar(mixedSmall)
	blob, err = GNUGzip(ctx, blocked, 6)
	b.add(Layer{Name: "gnu-blocked/gnu-gzip-6", Blob: blob, Tar: blocked}, err)
	b.add(Layer{Name: "gnu-blocked/uncompressed", Compression: Uncompressed, Blob: blocked, Tar: blocked}, nil)

	// 1 MiB of zeros after the end-of-archive blocks: with BestSpeed the
	// padding holds block boundaries, so checkpoints fall beyond the archive.
	padded := append(bytes.Clone(mixedSmall), make([]byte, 1<<20)...)
	blob, err = GoGzip(padded, 1)
	b.add(Layer{Name: "trailing-padding/go-gzip-1", Blob: blob, Tar: padded}, err)
	blob, err = GoGzip(padded, 0)
	b.add(Layer{Name: "trailing-padding/go-gzip-0", Blob: blob, Tar: padded}, err)

	unterm, err := UnterminatedTar(6)
	if err != nil {
		return nil, err
	}
	blob, err = GoGzip(unterm, 6)
	b.add(Layer{Name: "unterminated/go-gzip-6", Blob: blob, Tar: unterm}, err)
	b.add(Layer{Name: "unterminated/uncompressed", Compression: Uncompressed, Blob: unterm, Tar: unterm}, nil)
	oneZero := append(bytes.Clone(unterm), make([]byte, 512)...)
	blob, err = GoGzip(oneZero, 6)
	b.add(Layer{Name: "one-zero-block/go-gzip-6", Blob: blob, Tar: oneZero}, err)
	b.add(Layer{Name: "one-zero-block/uncompressed", Compression: Uncompressed, Blob: oneZero, Tar: oneZero}, nil)

	// Data after the end-of-archive marker: archive/tar never reads it.
	garbageAfterEnd := append(bytes.Clone(mixedSmall), []byte("this is not a tar header, and nobody reads it")...)
	b.add(Layer{Name: "uncompressed-trailing-garbage", Compression: Uncompressed, Blob: garbageAfterEnd, Tar: garbageAfterEnd}, nil)

	// Degenerate spans: 0 and 1 put a checkpoint at every block boundary
	// (soci's rule is out - last > span), 512 is a tar block.
	tiny := []int64{0, 1, 512}
	blob, err = GoGzip(mixedSmall, 6)
	b.add(Layer{Name: "tiny-spans/go-gzip-6", Blob: blob, Tar: mixedSmall, Spans: tiny}, err)
	blob, err = GNUGzip(ctx, mixedSmall, 1)
	b.add(Layer{Name: "tiny-spans/gnu-gzip-1", Blob: blob, Tar: mixedSmall, Spans: tiny}, err)
	b.add(Layer{Name: "tiny-spans/hand-fixed-5000", Blob: Member(GzipHeader{}, HandDeflate(splitBlocks(mixedSmall, Fixed, 5000)), mixedSmall), Tar: mixedSmall, Spans: tiny}, nil)
	b.add(Layer{Name: "tiny-spans/weird-uncompressed", Compression: Uncompressed, Blob: weird, Tar: weird, Spans: []int64{1, 512, 513}}, nil)
	b.add(Layer{Name: "tiny-spans/empty-uncompressed", Compression: Uncompressed, Blob: empty, Tar: empty, Spans: []int64{1, 512, 1024}}, nil)

	b.addErrors(mixedSmall)
	if opt.Large {
		b.addLarge()
	}
	return b.layers, b.err
}

type handDeflate struct {
	name   string
	blocks []Block
}

func splitBlocks(data []byte, kind BlockKind, sizes ...int) []Block {
	var bl []Block
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		bl = append(bl, Block{Kind: kind, Data: data[:n]})
		data = data[n:]
	}
	return bl
}

func handDeflates(t []byte) []handDeflate {
	var alt []Block
	// Stored and fixed blocks alternate, ending at out = 65536, 65537,
	// 131073, 131074, ... relative to the previous checkpoint, for span
	// 65536; and every fixed block's length changes its bit offset.
	rest := t
	for i, n := range []int{65536, 1, 65536, 1, 65535, 2, 10000, 1, 9999, 3} {
		n = min(n, len(rest))
		kind := Stored
		if i%2 == 1 || i == 2 {
			kind = Fixed
		}
		alt = append(alt, Block{Kind: kind, Data: rest[:n]})
		rest = rest[n:]
	}
	alt = append(alt, splitBlocks(rest, Fixed, 7001, 3, 12000)...)
	emptyFirst := append([]Block{{Kind: Fixed}, {Kind: Stored}, {Kind: Fixed}}, splitBlocks(t, Fixed, 50000)...)
	var emptyMiddle []Block
	for _, blk := range splitBlocks(t, Fixed, 40000) {
		emptyMiddle = append(emptyMiddle, blk, Block{Kind: Fixed}, Block{Kind: Stored})
	}
	var eobBetween []Block
	for _, blk := range splitBlocks(t, Dynamic, 33333) {
		eobBetween = append(eobBetween, Block{Kind: Dynamic, LitLens: EOBOnlyLitLens(), DistLens: []int{0}}, blk)
	}
	var noDist []Block
	for _, blk := range splitBlocks(t, Dynamic, 70000) {
		blk.LitLens, blk.DistLens = NoMatchLitLens(), []int{0}
		noDist = append(noDist, blk)
	}
	return []handDeflate{
		{"dynamic-single-distance-code", splitBlocks(t, Dynamic, 30000)},
		{"dynamic-empty-distance-tree", noDist},
		{"dynamic-eob-only-blocks", eobBetween},
		{"boundaries-at-span", alt},
		{"empty-blocks-first", emptyFirst},
		{"empty-blocks-between", emptyMiddle},
		{"tiny-fixed-blocks", splitBlocks(t, Fixed, 1, 100, 513, 4096)},
		{"stored-exact-64k", splitBlocks(t, Stored, 65536)},
		{"one-fixed-block", []Block{{Kind: Fixed, Data: t}}},
	}
}

func (b *builder) addMultiMember(mixed, mixedSmall []byte) {
	gnu6 := func(p []byte) ([]byte, error) { return GNUGzip(b.ctx, p, 6) }
	go6 := func(p []byte) ([]byte, error) { return GoGzip(p, 6) }
	go1 := func(p []byte) ([]byte, error) { return GoGzip(p, 1) }
	join := func(name string, tarData []byte, parts [][]byte, comp ...func([]byte) ([]byte, error)) {
		var blob []byte
		for i, p := range parts {
			m, err := comp[i%len(comp)](p)
			if err != nil {
				b.add(Layer{Name: name}, err)
				return
			}
			blob = append(blob, m...)
		}
		b.add(Layer{Name: "multi/" + name, Blob: blob, Tar: tarData}, nil)
	}
	split := func(t []byte, at ...int) [][]byte {
		var parts [][]byte
		prev := 0
		for _, a := range at {
			parts = append(parts, t[prev:a])
			prev = a
		}
		return append(parts, t[prev:])
	}
	join("two-gnu-inside-file", mixed, split(mixed, 400000), gnu6)
	join("five-mixed-compressors", mixed, split(mixed, 1000, 70000, 70001, 600000), gnu6, go6, go1)
	// An empty first member: two block boundaries at out = 0.
	join("empty-first-member", mixedSmall, split(mixedSmall, 0), go6)
	join("empty-middle-member", mixedSmall, split(mixedSmall, 100000, 100000), gnu6)
	join("empty-last-member", mixedSmall, split(mixedSmall, len(mixedSmall)), go6)
	var at []int
	for o := 20000; o < len(mixed); o += 20000 {
		at = append(at, o)
	}
	join("many-20k-members", mixed, split(mixed, at...), go1)
	at = at[:0]
	for o := 512; o < 40000; o += 512 {
		at = append(at, o)
	}
	join("tiny-members", mixedSmall, split(mixedSmall, at...), go6)

	// Members with header options after the first.
	d1, _ := Deflate(mixedSmall[:123457], 9)
	d2, _ := KlauspostDeflate(mixedSmall[123457:], 5)
	blob := append(Member(GzipHeader{OS: 3}, d1, mixedSmall[:123457]),
		Member(GzipHeader{Name: "part2", Comment: "second", Extra: []byte("xx"), HCRC: true, OS: 3}, d2, mixedSmall[123457:])...)
	b.add(Layer{Name: "multi/header-options-second-member", Blob: blob, Tar: mixedSmall}, nil)

	// A second member after the end of the tar holding bytes that are not a
	// tar: soci's zlib pass checks the whole stream, archive/tar never reads
	// the member, so the layer is fine.
	extra := []byte("not a tar, after the end of the archive\n")
	m1, _ := GoGzip(mixedSmall, 6)
	m2, _ := GoGzip(extra, 6)
	b.add(Layer{Name: "multi/non-tar-member-after-end", Blob: append(bytes.Clone(m1), m2...), Tar: append(bytes.Clone(mixedSmall), extra...)}, nil)

	// After the tar's member, a member zlib takes but Go's gzip reader does
	// not (FNAME of 512 bytes or more; a zlib stream, which zlib's automatic
	// header detection accepts): soci's zlib pass accepts it and archive/tar
	// never makes compress/gzip read that member, so soci accepts the layer.
	// Inside the tar, compress/gzip reads the header and soci fails.
	g1, _ := GNUGzip(b.ctx, mixedSmall, 6)
	dx, _ := Deflate(extra, 6)
	longName := Member(GzipHeader{Name: strings.Repeat("n", 600)}, dx, extra)
	z, _ := zlibWrap(extra)
	for _, c := range []struct {
		name   string
		m1, m2 []byte
		want   bool
	}{
		{"go6+long-fname-member-after-end", m1, longName, false},
		{"gnu6+long-fname-member-after-end", g1, longName, false},
		{"go6+zlib-stream-after-end", m1, z, false},
		{"gnu6+zlib-stream-after-end", g1, z, false},
	} {
		b.add(Layer{Name: "multi/" + c.name, Blob: append(bytes.Clone(c.m1), c.m2...), Tar: append(bytes.Clone(mixedSmall), extra...), WantError: c.want, GoGzipRejects: true}, nil)
	}
	// Long non-tar members after the tar's end: checkpoints fall inside them.
	bigExtra := newGen(12).text(300000)
	bz, _ := zlibWrapLevel(bigExtra, 1)
	b.add(Layer{Name: "multi/go6+big-zlib-stream-after-end", Blob: append(bytes.Clone(m1), bz...), Tar: append(bytes.Clone(mixedSmall), bigExtra...), GoGzipRejects: true}, nil)
	bg, _ := GoGzip(bigExtra, 1)
	b.add(Layer{Name: "multi/go6+big-gzip-member-after-end", Blob: append(bytes.Clone(m1), bg...), Tar: append(bytes.Clone(mixedSmall), bigExtra...)}, nil)
	// A zlib header with FDICT: zlib needs a dictionary, which soci treats
	// as a data error.
	fdict := append([]byte{0x78, 0xbb, 0, 0, 0, 1}, bz[2:]...)
	b.add(Layer{Name: "multi/go6+zlib-fdict-after-end", Blob: append(bytes.Clone(m1), fdict...), WantError: true, Spans: []int64{65536}}, nil)

	half := len(mixedSmall) / 2
	h1, _ := GoGzip(mixedSmall[:half], 6)
	dh, _ := Deflate(mixedSmall[half:], 6)
	zh, _ := zlibWrap(mixedSmall[half:])
	b.add(Layer{Name: "multi/long-fname-second-member-inside-tar", WantError: true, Spans: []int64{65536},
		Blob: append(bytes.Clone(h1), Member(GzipHeader{Name: strings.Repeat("n", 600)}, dh, mixedSmall[half:])...)}, nil)
	b.add(Layer{Name: "multi/zlib-second-member-inside-tar", WantError: true, Spans: []int64{65536},
		Blob: append(bytes.Clone(h1), zh...)}, nil)

	// Where the member boundary sits decides whether compress/gzip parses the
	// next header: only when archive/tar needs a byte past the member's end.
	// An error met exactly at the end of a read that got all it asked for
	// is dropped by io.ReadFull.
	splitBadSecond := func(name string, at int, first func([]byte) ([]byte, error), want bool) {
		p1, err := first(mixedSmall[:at])
		if err != nil {
			b.add(Layer{Name: name}, err)
			return
		}
		d2, _ := Deflate(mixedSmall[at:], 6)
		b.add(Layer{Name: "multi/" + name, WantError: want, Spans: []int64{65536},
			Blob: append(p1, Member(GzipHeader{Name: strings.Repeat("n", 600)}, d2, mixedSmall[at:])...), Tar: mixedSmall}, nil)
	}
	end := len(mixedSmall)
	splitBadSecond("gnu6-ends-between-zero-blocks+long-fname", end-512, gnu6, true)
	splitBadSecond("go6-ends-between-zero-blocks+long-fname", end-512, go6, true)
	splitBadSecond("gnu6-ends-before-zero-blocks+long-fname", end-1024, gnu6, true)
	splitBadSecond("gnu6-ends-at-a-header+long-fname", 1024, gnu6, true)

	// An unterminated tar reads to EOF, so compress/gzip parses every
	// member header, even of an empty last member.
	unterm, _ := UnterminatedTar(6)
	u1, _ := GoGzip(unterm, 6)
	emptyLong := Member(GzipHeader{Name: strings.Repeat("n", 600)}, HandDeflate(nil), nil)
	ez, _ := zlibWrap(nil)
	b.add(Layer{Name: "multi/unterminated+empty-long-fname-member", WantError: true, Spans: []int64{65536}, Blob: append(bytes.Clone(u1), emptyLong...)}, nil)
	b.add(Layer{Name: "multi/unterminated+empty-zlib-member", WantError: true, Spans: []int64{65536}, Blob: append(bytes.Clone(u1), ez...)}, nil)
	b.add(Layer{Name: "multi/terminated+empty-long-fname-member", Spans: []int64{65536}, Blob: append(bytes.Clone(m1), emptyLong...), Tar: mixedSmall, GoGzipRejects: true}, nil)
}

func (b *builder) addErrors(t []byte) {
	good, err := GoGzip(t, 6)
	if err != nil {
		b.add(Layer{Name: "errors"}, err)
		return
	}
	bad := func(name string, blob []byte, comp string) {
		if comp == "" {
			comp = Gzip
		}
		b.add(Layer{Name: "error/" + name, Compression: comp, Blob: blob, WantError: true, Spans: []int64{65536}}, nil)
	}
	bad("trailing-garbage", append(bytes.Clone(good), "garbage!"...), "")
	bad("trailing-zeros", append(bytes.Clone(good), make([]byte, 512)...), "")
	bad("trailing-gzip-magic", append(bytes.Clone(good), 0x1f, 0x8b), "")
	bad("truncated-half", good[:len(good)/2], "")
	bad("truncated-no-trailer", good[:len(good)-8], "")
	bad("truncated-in-trailer", good[:len(good)-3], "")
	bad("truncated-in-header", good[:7], "")
	bad("header-only", good[:10], "")
	bad("zero-bytes", []byte{}, "")
	crc := bytes.Clone(good)
	crc[len(crc)-8] ^= 0xff
	bad("bad-crc", crc, "")
	isize := bytes.Clone(good)
	isize[len(isize)-1] ^= 0x01
	bad("bad-isize", isize, "")
	magic := bytes.Clone(good)
	magic[1] = 0x8c
	bad("bad-magic", magic, "")
	// Corrupt deflate data (a reserved block type), well inside the stream.
	corrupt := bytes.Clone(good)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] = 0xff
	}
	bad("corrupt-deflate", corrupt, "")
	// Dynamic blocks whose codes zlib rejects, after 50000 good bytes.
	incomplete := NoMatchLitLens()
	incomplete[256] = 2
	over := NoMatchLitLens()
	over[0] = 1
	noEOB := make([]int, 257)
	for i := 0; i < 256; i++ {
		noEOB[i] = 8
	}
	for _, c := range []struct {
		name      string
		lit, dist []int
	}{
		{"incomplete-litlen-code", incomplete, []int{0}},
		{"oversubscribed-litlen-code", over, []int{0}},
		{"missing-end-of-block", noEOB, []int{0}},
		{"hdist-31", NoMatchLitLens(), make([]int, 31)},
		{"hlit-287", append(NoMatchLitLens(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), []int{0}},
		{"incomplete-distance-code", DefaultLitLens(), []int{2, 2, 2}},
	} {
		blocks := []Block{{Kind: Fixed, Data: t[:50000]}, {Kind: Dynamic, Data: t[50000:60000], LitLens: c.lit, DistLens: c.dist}, {Kind: Stored, Data: t[60000:]}}
		bad("dynamic-"+c.name, Member(GzipHeader{}, HandDeflate(blocks), t), "")
	}
	badFHCRC := GzipHeader{Name: "x", HCRC: true}.Bytes()
	badFHCRC[len(badFHCRC)-1] ^= 0xff
	bad("bad-fhcrc", append(badFHCRC, good[10:]...), "")
	reserved := bytes.Clone(good)
	reserved[3] |= 0x20
	bad("reserved-flag-bit", reserved, "")
	method := bytes.Clone(good)
	method[2] = 7
	bad("method-not-deflate", method, "")
	if z, err := zlibWrap(t); err == nil {
		bad("zlib-not-gzip", z, "")
	}
	rnd, _ := GoGzip(newGen(9).random(100000), 6)
	bad("not-a-tar", rnd, "")
	bad("uncompressed-not-a-tar", newGen(9).random(100000), Uncompressed)
	bad("uncompressed-truncated-in-data", t[:len(t)/2+100], Uncompressed)
	trTar, _ := GoGzip(t[:len(t)/2+100], 6)
	bad("tar-truncated-in-data", trTar, "")

	for _, c := range []struct {
		name string
		mk   func(uint64) ([]byte, error)
	}{{"pax-global-header", GlobalHeaderTar}, {"old-gnu-sparse", OldGNUSparseTar}, {"contiguous-type-7", ContiguousTar}} {
		tarData, err := c.mk(7)
		if err != nil {
			b.add(Layer{Name: c.name}, err)
			return
		}
		gz, err := GoGzip(tarData, 6)
		if err != nil {
			b.add(Layer{Name: c.name}, err)
			return
		}
		bad(c.name+"/go-gzip-6", gz, "")
		bad(c.name+"/uncompressed", tarData, Uncompressed)
	}
}

func zlibWrap(t []byte) ([]byte, error) { return zlibWrapLevel(t, 6) }

// zlibWrapLevel is an RFC 1950 stream (CMF 0x78, FLG 0x9c) around Go's
// deflate output.
func zlibWrapLevel(t []byte, level int) ([]byte, error) {
	d, err := Deflate(t, level)
	if err != nil {
		return nil, err
	}
	var a, bb uint32 = 1, 0
	for _, c := range t {
		a = (a + uint32(c)) % 65521
		bb = (bb + a) % 65521
	}
	out := append([]byte{0x78, 0x9c}, d...)
	return append(out, byte(bb>>8), byte(bb), byte(a>>8), byte(a)), nil
}

func (b *builder) addLarge() {
	big, err := BigTar(10, 8<<20)
	if err != nil {
		b.add(Layer{Name: "big"}, err)
		return
	}
	blob, err := GoGzip(big, 6)
	b.add(Layer{Name: "big/go-gzip-6", Blob: blob, Tar: big}, err)
	blob, err = GNUGzip(b.ctx, big, 6)
	b.add(Layer{Name: "big/gnu-gzip-6", Blob: blob, Tar: big}, err)
	blob, err = Pigz(b.ctx, big)
	b.add(Layer{Name: "big/pigz", Blob: blob, Tar: big}, err)
	blob, err = Pgzip(big, 6, 0)
	b.add(Layer{Name: "big/pgzip-6", Blob: blob, Tar: big}, err)
	blob, err = KlauspostGzip(big, 6)
	b.add(Layer{Name: "big/klauspost-gzip-6", Blob: blob, Tar: big}, err)
	b.add(Layer{Name: "big/uncompressed", Compression: Uncompressed, Blob: big, Tar: big}, nil)
	var mm []byte
	for o := 0; o < len(big); o += 500000 {
		m, err := GoGzip(big[o:min(o+500000, len(big))], 5)
		if err != nil {
			b.add(Layer{Name: "big/multi"}, err)
			return
		}
		mm = append(mm, m...)
	}
	b.add(Layer{Name: "big/multi-member-500k", Blob: mm, Tar: big}, nil)

	zeros, err := ZerosTar(11, 24<<20)
	if err != nil {
		b.add(Layer{Name: "zeros"}, err)
		return
	}
	blob, err = GNUGzip(b.ctx, zeros, 9)
	b.add(Layer{Name: "zeros/gnu-gzip-9", Blob: blob, Tar: zeros}, err)
	blob, err = GoGzip(zeros, 9)
	b.add(Layer{Name: "zeros/go-gzip-9", Blob: blob, Tar: zeros}, err)
	blob, err = KlauspostGzip(zeros, 1)
	b.add(Layer{Name: "zeros/klauspost-gzip-1", Blob: blob, Tar: zeros}, err)
}

// GoSourceLayer tars the files under root (sorted, regular files, dirs and
// symlinks) until the tar reaches limit bytes, and compresses it with GNU
// gzip -6: a real-content layer.
func GoSourceLayer(ctx context.Context, root string, limit int) (Layer, error) {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return Layer{}, fmt.Errorf("walk %s: %w", root, err)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		if buf.Len() >= limit {
			break
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return Layer{}, err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return Layer{}, err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			continue
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return Layer{}, err
		}
		rel, _ := filepath.Rel(filepath.Dir(root), p)
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return Layer{}, err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return Layer{}, err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return Layer{}, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, err
	}
	t := buf.Bytes()
	blob, err := GNUGzip(ctx, t, 6)
	if err != nil {
		return Layer{}, err
	}
	return Layer{Name: "real/go-src-gnu-gzip-6", Compression: Gzip, Blob: blob, Tar: t, Spans: DefaultSpans}, nil
}

// GoRoot returns the Go installation root of the go command in PATH.
func GoRoot(ctx context.Context) (string, error) {
	if r := os.Getenv("GOROOT"); r != "" {
		return r, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
