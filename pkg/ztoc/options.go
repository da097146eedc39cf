package ztoc

// Option configures Build.
type Option func(*options)

type options struct {
	spanSize    int64
	tool        string
	compression Compression
	workers     int
	chunkSize   int  // compressed bytes per parallel chunk (0: default)
	syncHash    bool // hash on the indexer's goroutine even with a second core (tests)
}

func makeOptions(opts []Option) options {
	o := options{spanSize: DefaultSpanSize, tool: SociBuildToolIdentifier, compression: Gzip, workers: 1}
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

// WithWorkers sets how many goroutines decode a gzip layer ahead of the
// sequential pass, in chunks that start at block boundaries found near
// fixed compressed offsets; 0 means runtime.GOMAXPROCS. The zTOC is the
// same for every value. The default is 1 (sequential): on the project's
// 2-core machine the speculative decoding costs more CPU than a second
// core gives back (docs/performance.md). Whatever the value, a gzip build
// hashes (the blob and span SHA-256s) on a goroutine of its own when
// runtime.GOMAXPROCS is above 1, so one build uses up to two cores.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithChunkSize sets the compressed bytes per chunk decoded ahead when
// workers > 1 (default 2 MiB). Memory for parallel decoding is about
// (workers+3) chunks of input plus (workers+1) chunks of their output.
func WithChunkSize(n int) Option { return func(o *options) { o.chunkSize = n } }
