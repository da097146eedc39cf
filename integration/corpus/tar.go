package corpus

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// gen produces deterministic content from a seed. math/rand/v2's PCG and
// ChaCha8 are specified algorithms, so the corpus is the same on every Go
// version and machine.
type gen struct {
	r  *rand.Rand
	cc *rand.ChaCha8
}

func newGen(seed uint64) *gen {
	var s [32]byte
	for i := range s {
		s[i] = byte(seed >> (8 * (i % 8)))
	}
	s[31] ^= 0x5a
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cc: rand.NewChaCha8(s)}
}

func (g *gen) random(n int) []byte {
	b := make([]byte, n)
	_, _ = g.cc.Read(b)
	return b
}

var words = strings.Fields(`the of and to in is that for it as with was on be by this are from
or have an they which one you were her all she there would their we him been has when who will more no if out
so said what up its about into than them can only other new some could time these two may then do first any my
now such like our over man me even most made after also did many before must through back years where much your
way well down should because each just those people how too little state good very make world still own see men
work long get here between both life being under never day same another know while last might us great old year
off come since against go came right used take three func return struct package import error nil string int byte
container layer image registry manifest digest checkpoint window deflate inflate span offset header archive`)

// text is compressible prose with line structure.
func (g *gen) text(n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		line := 3 + g.r.IntN(14)
		for i := 0; i < line; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[g.r.IntN(len(words))])
		}
		if g.r.IntN(7) == 0 {
			fmt.Fprintf(&b, " %d", g.r.Uint32())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

// mixed alternates text, random bytes, zero runs and a repeated pattern, so
// compressors switch between block types inside one file.
func (g *gen) mixed(n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		k := min(n-len(b), 1+g.r.IntN(24<<10))
		switch g.r.IntN(4) {
		case 0:
			b = append(b, g.text(k)...)
		case 1:
			b = append(b, g.random(k)...)
		case 2:
			b = append(b, make([]byte, k)...)
		default:
			pat := g.random(1 + g.r.IntN(300))
			for i := 0; i < k; i++ {
				b = append(b, pat[i%len(pat)])
			}
		}
	}
	return b
}

var epoch = time.Unix(1700000000, 0)

type tarBuilder struct {
	w   *tar.Writer
	buf bytes.Buffer
	err error
}

func newTarBuilder() *tarBuilder {
	tb := &tarBuilder{}
	tb.w = tar.NewWriter(&tb.buf)
	return tb
}

func (tb *tarBuilder) add(h *tar.Header, data []byte) {
	if tb.err != nil {
		return
	}
	if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
		h.ModTime = epoch
	}
	if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
		h.Size = int64(len(data))
	}
	if err := tb.w.WriteHeader(h); err != nil {
		tb.err = fmt.Errorf("tar header %q: %w", h.Name, err)
		return
	}
	if len(data) > 0 {
		if _, err := tb.w.Write(data); err != nil {
			tb.err = fmt.Errorf("tar data %q: %w", h.Name, err)
		}
	}
}

func (tb *tarBuilder) file(name string, data []byte) {
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Uname: "root", Gname: "root"}, data)
}

// bytes closes the archive (writing the two zero blocks).
func (tb *tarBuilder) bytes() ([]byte, error) {
	if tb.err != nil {
		return nil, tb.err
	}
	if err := tb.w.Close(); err != nil {
		return nil, err
	}
	return tb.buf.Bytes(), nil
}

// unterminated returns the archive without the end-of-archive blocks.
func (tb *tarBuilder) unterminated() ([]byte, error) {
	if tb.err != nil {
		return nil, tb.err
	}
	if err := tb.w.Flush(); err != nil {
		return nil, err
	}
	return bytes.Clone(tb.buf.Bytes()), nil
}

// MixedTar is a tar exercising every entry type and header encoding that
// archive/tar reads: PAX records (long names and link targets, SCHILY.xattr.*
// with binary values, LIBARCHIVE.*, comment, atime/ctime, sub-second and
// out-of-range mtimes, big uid/gid, long uname/gname, UTF-8 names), GNU
// long names and link names ('L'/'K') and base-256 numbers, USTAR prefix
// names, hardlinks, symlinks, char/block devices, fifos, empty files,
// setuid/sticky modes, mode type bits, duplicate names and whiteouts, then
// regular files of text, random, zero and mixed content until about
// dataBudget bytes of file data.
func MixedTar(seed uint64, dataBudget int) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	dir := "root"
	tb.add(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}, nil)
	deep := dir
	for i := 0; i < 10; i++ {
		deep += fmt.Sprintf("/d%d", i)
		tb.add(&tar.Header{Typeflag: tar.TypeDir, Name: deep + "/", Mode: 0o750, Uid: 1000, Gid: 1000, Uname: "user", Gname: "group"}, nil)
	}
	tb.add(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/sticky/", Mode: 0o1777}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/xattrdir/", Mode: 0o755, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}, nil)

	tb.file(dir+"/empty", nil)
	tb.file(deep+"/deepfile.txt", g.text(3000))
	tb.file(dir+"/zeros.bin", make([]byte, 200<<10))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/setuid", Mode: 0o4755}, g.random(1500))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/typebits", Mode: 0o100644}, g.text(700))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/xattrs.bin", Mode: 0o755, Format: tar.FormatPAX,
		PAXRecords: map[string]string{
			"SCHILY.xattr.user.comment":        "hello, world",
			"SCHILY.xattr.security.selinux":    "system_u:object_r:bin_t:s0\x00",
			"SCHILY.xattr.security.capability": string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
			"SCHILY.xattr.user.empty":          "",
			"LIBARCHIVE.xattr.user.b64":        "aGVsbG8=",
			"comment":                          "a PAX comment record",
		}}, g.random(4000))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/times", Mode: 0o644, Format: tar.FormatPAX,
		ModTime: time.Unix(1700000000, 123456789), AccessTime: time.Unix(1700000001, 5), ChangeTime: time.Unix(1700000002, 999999999)}, g.text(100))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/before-1970", Mode: 0o644, ModTime: time.Unix(-86400*365*20-17, 0)}, g.text(10))
	// Year 12000: time.MarshalText fails, so soci writes an empty mod_time.
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/far-future", Mode: 0o644, Format: tar.FormatPAX,
		ModTime: time.Date(12000, 1, 2, 3, 4, 5, 0, time.UTC)}, g.text(10))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/epoch0", Mode: 0o644, ModTime: time.Unix(0, 0)}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/biguid-pax", Mode: 0o600, Uid: 3000000, Gid: 4000000, Format: tar.FormatPAX,
		Uname: strings.Repeat("u", 40), Gname: strings.Repeat("g", 40)}, g.text(200))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/biguid-gnu", Mode: 0o600, Uid: 1 << 30, Gid: 1<<31 - 1, Format: tar.FormatGNU}, g.text(200))
	// uid beyond uint32: soci and we cast to uint32.
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/uid-over-32-bits", Mode: 0o600, Uid: 5000000000, Gid: 1 << 32, Format: tar.FormatPAX}, g.text(20))
	// A mode beyond the octal field, base-256 encoded (GNU).
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/huge-mode", Mode: 1<<40 | 0o644, Format: tar.FormatGNU}, g.text(20))
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/ünïcødé-名前.txt", Mode: 0o644}, g.text(333))

	long := dir + "/" + strings.Repeat("long-directory-name/", 6) + strings.Repeat("x", 60) + ".txt"
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: long, Mode: 0o644, Format: tar.FormatPAX}, g.text(5000))
	gnuLong := dir + "/" + strings.Repeat("gnu-long-name/", 10) + "file.bin"
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: gnuLong, Mode: 0o644, Format: tar.FormatGNU}, g.random(2048))
	// Fits USTAR only with the prefix field (name > 100, split at a slash).
	ustarPrefix := dir + "/" + strings.Repeat("p", 90) + "/" + strings.Repeat("n", 60)
	tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: ustarPrefix, Mode: 0o644, Format: tar.FormatUSTAR}, g.text(1000))

	tb.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "/rel-link", Linkname: "d0/d1/file", Mode: 0o777}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "/abs-link", Linkname: "/usr/bin/env", Mode: 0o777}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "/dangling", Linkname: "does/not/exist", Mode: 0o777}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "/long-target-pax", Linkname: strings.Repeat("t/", 90), Mode: 0o777, Format: tar.FormatPAX}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "/long-target-gnu", Linkname: strings.Repeat("k/", 90), Mode: 0o777, Format: tar.FormatGNU}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeLink, Name: dir + "/hardlink", Linkname: dir + "/setuid"}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeLink, Name: dir + "/hardlink-long", Linkname: long, Format: tar.FormatPAX}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeChar, Name: dir + "/null", Devmajor: 1, Devminor: 3, Mode: 0o666}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeBlock, Name: dir + "/loop7", Devmajor: 7, Devminor: 7, Mode: 0o660}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeChar, Name: dir + "/bigdev", Devmajor: 4095, Devminor: 1048575, Mode: 0o600, Format: tar.FormatGNU}, nil)
	tb.add(&tar.Header{Typeflag: tar.TypeFifo, Name: dir + "/fifo", Mode: 0o644}, nil)
	tb.file(dir+"/.wh.deleted", nil)
	tb.file(dir+"/xattrdir/.wh..wh..opq", nil)
	tb.file(dir+"/dup", g.text(1234))
	tb.file(dir+"/dup", g.text(4321)) // same name again: both entries are kept
	tb.file("./dot-slash-name", g.text(77))

	for i, used := 0, 0; used < dataBudget; i++ {
		var n int
		switch g.r.IntN(10) {
		case 0:
			n = 100<<10 + g.r.IntN(200<<10)
		case 1, 2:
			n = g.r.IntN(512)
		default:
			n = g.r.IntN(40 << 10)
		}
		n = min(n, dataBudget-used+1)
		var data []byte
		switch g.r.IntN(4) {
		case 0:
			data = g.text(n)
		case 1:
			data = g.random(n)
		case 2:
			data = g.mixed(n)
		default:
			data = bytes.Repeat([]byte{byte(i)}, n)
		}
		name := fmt.Sprintf("%s/files/f%04d.%s", dir, i, []string{"txt", "bin", "dat", "so"}[i%4])
		tb.add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Uid: g.r.IntN(70000), Gid: g.r.IntN(70000),
			ModTime: epoch.Add(time.Duration(g.r.IntN(1e6)) * time.Second)}, data)
		used += n
	}
	return tb.bytes()
}

// SmallFilesTar holds n files of 0-2 KiB, mostly text.
func SmallFilesTar(seed uint64, n int) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			tb.add(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("small/%02d/", i/100), Mode: 0o755}, nil)
		}
		sz := g.r.IntN(2048)
		data := g.text(sz)
		if i%5 == 0 {
			data = g.random(sz)
		}
		tb.file(fmt.Sprintf("small/%02d/s%05d", i/100, i), data)
	}
	return tb.bytes()
}

// BigTar has a few multi-MiB files of each content kind, plus small ones.
func BigTar(seed uint64, size int) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	part := size / 5
	tb.file("big/text.txt", g.text(part*2))
	tb.file("big/small-1", g.text(1000))
	tb.file("big/random.bin", g.random(part))
	tb.file("big/small-2", g.random(1000))
	tb.file("big/mixed.dat", g.mixed(part))
	tb.file("big/zeros", make([]byte, part/2))
	tb.file("big/pattern", bytes.Repeat([]byte("0123456789abcdef\n"), part/2/17))
	tb.file("big/small-3", g.text(10))
	return tb.bytes()
}

// ZerosTar has one file of n zero bytes between small text files. Every
// compressor emits very long deflate blocks for it, so spans are far longer
// than the span size.
func ZerosTar(seed uint64, n int) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	tb.file("zeros/before.txt", g.text(5000))
	tb.file("zeros/zero.img", make([]byte, n))
	tb.file("zeros/after.txt", g.text(70000))
	tb.file("zeros/after.bin", g.random(3000))
	return tb.bytes()
}

// EmptyTar is an archive with no entries: just the two zero blocks.
func EmptyTar() ([]byte, error) { return newTarBuilder().bytes() }

// UnterminatedTar is MixedTar-like content without the end-of-archive
// blocks. archive/tar reports a clean io.EOF at the entry boundary.
func UnterminatedTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	tb.file("a.txt", g.text(10000))
	tb.file("b.bin", g.random(777))
	return tb.unterminated()
}

// rawHeader is a tar header encoded by hand, for entries archive/tar's
// writer refuses to produce.
type rawHeader struct {
	Name     string
	Mode     int64
	Size     int64 // the size field; data is appended separately
	Typeflag byte
	Linkname string
	GNU      bool // "ustar  \x00" magic instead of "ustar\x0000"
	Devmajor int64
	Devminor int64
	// Sparse: old GNU sparse map entries {offset, length}; RealSize is the
	// logical file size.
	Sparse   [][2]int64
	RealSize int64
}

func octal(b []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	s = strings.Repeat("0", len(b)-1-len(s)) + s
	copy(b, s)
	b[len(b)-1] = 0
}

func (h rawHeader) block() []byte {
	b := make([]byte, 512)
	copy(b[0:100], h.Name)
	octal(b[100:108], h.Mode)
	octal(b[108:116], 0)
	octal(b[116:124], 0)
	octal(b[124:136], h.Size)
	octal(b[136:148], epoch.Unix())
	b[156] = h.Typeflag
	copy(b[157:257], h.Linkname)
	if h.GNU {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	copy(b[265:297], "root")
	copy(b[297:329], "root")
	octal(b[329:337], h.Devmajor)
	octal(b[337:345], h.Devminor)
	if h.GNU && h.Typeflag == 'S' {
		for i, s := range h.Sparse {
			off := 386 + 24*i
			octal(b[off:off+12], s[0])
			octal(b[off+12:off+24], s[1])
		}
		octal(b[483:495], h.RealSize)
	}
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	octal(b[148:155], sum) // 6 digits + NUL, then the space kept at 155
	b[155] = ' '
	return b
}

func pad512(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// WeirdTar has entries only a hand-written header produces and archive/tar
// still reads: TypeRegA ('\x00') files and directories (trailing slash),
// header-only types with a non-zero size field (archive/tar reads no data
// for them but reports the size), device numbers on a regular file, an entry
// with an empty name, "." and "./".
func WeirdTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	var b []byte
	add := func(h rawHeader, data []byte) {
		b = append(b, h.block()...)
		b = append(b, pad512(bytes.Clone(data))...)
	}
	d1 := g.text(900)
	add(rawHeader{Name: ".", Mode: 0o755, Typeflag: '5'}, nil)
	add(rawHeader{Name: "./", Mode: 0o755, Typeflag: '5'}, nil)
	add(rawHeader{Name: "rega-file", Mode: 0o644, Typeflag: 0, Size: int64(len(d1))}, d1)
	add(rawHeader{Name: "rega-dir/", Mode: 0o755, Typeflag: 0}, nil)
	add(rawHeader{Name: "dir-with-size/", Mode: 0o755, Typeflag: '5', Size: 1024}, nil)
	add(rawHeader{Name: "hardlink-with-size", Typeflag: '1', Linkname: "rega-file", Size: 5}, nil)
	add(rawHeader{Name: "symlink-with-size", Typeflag: '2', Linkname: "rega-file", Size: 700}, nil)
	d2 := g.random(100)
	add(rawHeader{Name: "reg-with-devnums", Mode: 0o644, Typeflag: '0', Size: 100, Devmajor: 8, Devminor: 1}, d2)
	d3 := g.text(512)
	add(rawHeader{Name: "", Mode: 0o644, Typeflag: '0', Size: 512}, d3)
	add(rawHeader{Name: "gnu-magic-file", Mode: 0o644, Typeflag: '0', Size: 3, GNU: true}, []byte("abc"))
	b = append(b, make([]byte, 1024)...)
	return b, nil
}

// GNUBlockedTar pads a tar to a multiple of 10240 bytes (GNU tar's default
// record size). archive/tar stops at the end-of-archive blocks, so the
// padding is not part of the uncompressed archive size.
func GNUBlockedTar(t []byte) []byte {
	n := (len(t) + 10239) / 10240 * 10240
	if n == len(t) {
		n += 10240
	}
	return append(bytes.Clone(t), make([]byte, n-len(t))...)
}

// GlobalHeaderTar holds a PAX global header ('g'), which archive/tar returns
// as an entry and soci rejects.
func GlobalHeaderTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	tb := newTarBuilder()
	tb.file("before", g.text(2000))
	tb.add(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "git archive"}}, nil)
	tb.file("after", g.text(2000))
	return tb.bytes()
}

// OldGNUSparseTar holds an old-GNU sparse entry (typeflag 'S'), which soci
// rejects as an unsupported entry type.
func OldGNUSparseTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	d0 := g.text(1500)
	var b []byte
	b = append(b, rawHeader{Name: "plain", Mode: 0o644, Typeflag: '0', Size: int64(len(d0)), GNU: true}.block()...)
	b = append(b, pad512(d0)...)
	data := g.random(1024)
	b = append(b, rawHeader{Name: "sparse", Mode: 0o644, Typeflag: 'S', Size: 1024, GNU: true,
		Sparse: [][2]int64{{0, 512}, {8192, 512}}, RealSize: 8704}.block()...)
	b = append(b, data...)
	b = append(b, make([]byte, 1024)...)
	return b, nil
}

// ContiguousTar holds a typeflag '7' (contiguous file) entry, which
// archive/tar returns as is and soci rejects.
func ContiguousTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	d := g.text(3000)
	var b []byte
	b = append(b, rawHeader{Name: "contig", Mode: 0o644, Typeflag: '7', Size: int64(len(d))}.block()...)
	b = append(b, pad512(d)...)
	b = append(b, make([]byte, 1024)...)
	return b, nil
}

// PAXSparseTar holds GNU sparse files in the PAX encodings 0.1 (map in a
// record) and 1.0 (map at the start of the data). archive/tar expands them
// and reports the logical size as the entry size; soci records that as is
// (which the snapshotter serves wrongly), so builders must warn.
func PAXSparseTar(seed uint64) ([]byte, error) {
	g := newGen(seed)
	var b []byte
	paxEntry := func(recs [][2]string, h rawHeader, data []byte) {
		var p []byte
		for _, kv := range recs {
			rec := " " + kv[0] + "=" + kv[1] + "\n"
			n := len(rec)
			for {
				l := len(strconv.Itoa(n)) + len(rec)
				if l == n {
					break
				}
				n = l
			}
			p = append(p, strconv.Itoa(n)+rec...)
		}
		b = append(b, rawHeader{Name: "PaxHeaders.0/" + h.Name, Mode: 0o644, Typeflag: 'x', Size: int64(len(p))}.block()...)
		b = append(b, pad512(p)...)
		b = append(b, h.block()...)
		b = append(b, pad512(bytes.Clone(data))...)
	}
	d := g.text(2000)
	b = append(b, rawHeader{Name: "first", Mode: 0o644, Typeflag: '0', Size: int64(len(d))}.block()...)
	b = append(b, pad512(d)...)

	// 0.1: GNU.sparse.map lists offset,length pairs; the data holds the
	// fragments back to back.
	frag := g.random(1536)
	paxEntry([][2]string{{"GNU.sparse.numblocks", "2"}, {"GNU.sparse.map", "0,512,10240,1024"}, {"GNU.sparse.size", "20000"}},
		rawHeader{Name: "sparse01", Mode: 0o644, Typeflag: '0', Size: int64(len(frag))}, frag)

	// 1.0: the map is a block of decimal lines at the start of the data.
	m := pad512([]byte("2\n0\n512\n4096\n512\n"))
	data := append(m, g.random(1024)...)
	paxEntry([][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", "sparse10"}, {"GNU.sparse.realsize", "9000"}},
		rawHeader{Name: "GNUSparseFile.0/sparse10", Mode: 0o644, Typeflag: '0', Size: int64(len(data))}, data)

	d = g.text(3000)
	b = append(b, rawHeader{Name: "last", Mode: 0o644, Typeflag: '0', Size: int64(len(d))}.block()...)
	b = append(b, pad512(d)...)
	b = append(b, make([]byte, 1024)...)
	return b, nil
}
