package ztoc

// Option configures Build.
type Option func(*options)

type options struct {
	spanSize    int64
	tool        string
	compression Compression
}

func makeOptions(opts []Option) options {
	o := options{spanSize: DefaultSpanSize, tool: SociBuildToolIdentifier, compression: Gzip}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithSpanSize sets the span size in uncompressed bytes (default 4 MiB).
func WithSpanSize(n int64) Option { return func(o *options) { o.spanSize = n } }

// WithBuildToolIdentifier sets the identifier written into the zTOC
// (default SociBuildToolIdentifier).
func WithBuildToolIdentifier(s string) Option { return func(o *options) { o.tool = s } }

// WithCompression says how the layer blob is compressed (default Gzip).
func WithCompression(c Compression) Option { return func(o *options) { o.compression = c } }
