package verify

// tarMaxSpanID is the snapshotter's TarZinfo.MaxSpanID (span must be > 0;
// the snapshotter divides by zero otherwise).
func tarMaxSpanID(size, span int64) int64 {
	n := size / span
	if size%span == 0 {
		n--
	}
	return n
}

// span is one span's byte range in the layer blob and in the tar stream, as
// the snapshotter's span manager computes them.
type span struct {
	start, end   int64 // compressed [start, end): what the digest covers
	uStart, uEnd int64 // uncompressed
	digest       string
}
