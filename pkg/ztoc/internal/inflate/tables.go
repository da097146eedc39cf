package inflate

import (
	"errors"
	"math/bits"
	"sync"
)

// A decoding table entry packs everything the hot loop needs into 32 bits,
// as libdeflate's do:
//
//	bits  0-7   bits to consume: the codeword and, for a length or distance,
//	            its extra bits (for a subtable pointer: the root bits)
//	bits  8-11  the codeword's own length (for a pointer: subtable bits)
//	bits 12-15  flags
//	bits 16-31  value: literal byte, length or distance base, subtable start
//
// so that one shift consumes a length or distance with its extra bits, and
// the extra bits are (saved & (1<<total-1)) >> codeword. An entry with no
// flag set is an invalid code.
const (
	fLit  = 1 << 12 // literal (or, in the code-length table, any symbol)
	fLen  = 1 << 13 // length symbol of the literal/length alphabet
	fEOB  = 1 << 14 // end of block
	fSub  = 1 << 15 // pointer to a subtable
	fDist = fLit    // valid distance symbol (distance tables only)
)

const (
	// 11 bits, as libdeflate: most literals of text fit the main table
	// (5 % less CPU than 10 on source text). oldLitRoot is the root the
	// decoder had when the offsets of truncation errors were fixed.
	litRoot    = 11
	oldLitRoot = 10
	distRoot   = 8
	clRoot     = 7

	// Upper bounds on table sizes for complete codes (zlib's "enough" program
	// gives 1332 and 402 for these roots); larger for safety margin.
	// With an 11-bit root: a subtable has at most 16 entries and holds at
	// least two of the at most 286 codes longer than the root.
	litTableSize  = 1<<11 + 143*16
	distTableSize = 1024
	clTableSize   = 1 << clRoot
)

var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dstBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dstExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clOrder  = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

type tableKind int

const (
	kindCodes tableKind = iota // code-length code
	kindLens                   // literal/length code
	kindDists                  // distance code
)

var (
	errOversubscribed = errors.New("invalid code lengths set (over-subscribed)")
	errIncomplete     = errors.New("invalid code lengths set (incomplete)")
)

// symbolEntries holds, per alphabet, each symbol's entry without its
// lengths, except that a length or distance carries its extra bits in bits
// 0-7 (buildTable adds the codeword length to them).
var symbolEntries = func() (t [3][288]uint32) {
	for sym := range 288 {
		t[kindCodes][sym] = fLit | uint32(sym)<<16
		switch {
		case sym < 256:
			t[kindLens][sym] = fLit | uint32(sym)<<16
		case sym == 256:
			t[kindLens][sym] = fEOB
		case sym < 286:
			i := sym - 257
			t[kindLens][sym] = fLen | uint32(lenBase[i])<<16 | uint32(lenExtra[i])
		}
		if sym < 30 {
			t[kindDists][sym] = fDist | uint32(dstBase[sym])<<16 | uint32(dstExtra[sym])
		}
	}
	return t
}()

// buildTable fills table for the canonical Huffman code given by lens, with
// zlib's acceptance rules: over-subscribed codes are errors, incomplete codes
// are errors except a single code of length one in the literal/length and
// distance alphabets, and an empty distance code is allowed.
func buildTable(kind tableKind, lens []uint8, table []uint32, root uint) error {
	var count [16]int
	for _, l := range lens {
		count[l&15]++
	}
	maxLen := 15
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	size := 1 << root
	if maxLen == 0 {
		clear(table[:size])
		if kind == kindCodes {
			return errIncomplete
		}
		return nil // decoding any symbol fails as an invalid code
	}
	left := 1
	for l := 1; l <= 15; l++ {
		left <<= 1
		left -= count[l]
		if left < 0 {
			return errOversubscribed
		}
	}
	if left > 0 {
		if kind == kindCodes || maxLen != 1 {
			return errIncomplete
		}
		// A single code of length one: half the table stays invalid.
		clear(table[:size])
	}
	// Canonical code assignment (RFC 1951 3.2.2); count[0] counts unused
	// symbols and must not contribute.
	var next [16]int
	code := 0
	for l := 2; l <= 15; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	entries := &symbolEntries[kind]
	if uint(maxLen) <= root {
		// No subtable: every entry is written once (all of them for a
		// complete code).
		for sym, l := range lens {
			if l == 0 {
				continue
			}
			l &= 15
			r := int(bits.Reverse16(uint16(next[l])) >> (16 - l))
			next[l]++
			e := entries[sym] + uint32(l)*(1<<8+1)
			for i := r; i < size; i += 1 << l {
				table[i] = e
			}
		}
		return nil
	}
	// Codes longer than root go to subtables; size each subtable for the
	// longest code sharing its root prefix.
	var subBits [1 << litRoot]uint8
	var revs [288]uint16
	nc := next
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		l &= 15
		r := bits.Reverse16(uint16(nc[l])) >> (16 - l)
		nc[l]++
		revs[sym] = r
		if uint(l) > root {
			p := int(r) & (size - 1)
			if b := l - uint8(root); b > subBits[p] {
				subBits[p] = b
			}
		}
	}
	cursor := size
	for p := 0; p < size; p++ {
		if subBits[p] == 0 {
			continue
		}
		n := 1 << subBits[p]
		if cursor+n > len(table) {
			return errors.New("huffman table overflow")
		}
		table[p] = fSub | uint32(cursor)<<16 | uint32(subBits[p])<<8 | uint32(root)
		cursor += n
	}
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		l &= 15
		e := entries[sym]
		r := int(revs[sym])
		if uint(l) <= root {
			e += uint32(l) * (1<<8 + 1)
			for i := r; i < size; i += 1 << l {
				table[i] = e
			}
			continue
		}
		ptr := table[r&(size-1)]
		base := int(ptr >> 16)
		sb := uint((ptr >> 8) & 15)
		sl := uint(l) - root
		e += uint32(sl) * (1<<8 + 1)
		for i := r >> root; i < 1<<sb; i += 1 << sl {
			table[base+i] = e
		}
	}
	return nil
}

// fixedTables holds the tables of the fixed Huffman code (RFC 1951 3.2.6).
type fixedTables struct {
	lit  [litTableSize]uint32
	dist [distTableSize]uint32
}

// fixedCode returns the fixed code's tables, built on first use and shared by
// every decoder: they are never written after that, so sharing is safe.
var fixedCode = sync.OnceValue(newFixedTables)

func newFixedTables() *fixedTables {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	f := new(fixedTables)
	if err := buildTable(kindLens, lens[:], f.lit[:], litRoot); err != nil {
		panic(err)
	}
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	if err := buildTable(kindDists, dl[:], f.dist[:], distRoot); err != nil {
		panic(err)
	}
	return f
}
