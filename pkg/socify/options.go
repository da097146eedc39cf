package socify

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/verify"
)

// Option configures Convert, Inspect and Verify. An option whose value
// cannot work returns an error, which the call returns before doing any work.
type Option func(*options) error

type options struct {
	convert  []convert.Option
	verify   []verify.Option
	registry []registry.Option
	client   *registry.Client
	location []location.Option

	ecr       []ecr.Option
	keychain  authn.Keychain
	user      string
	password  string
	haveCreds bool
	insecure  bool
	plainHTTP bool

	sociOrder   bool // WithArchiveOrder(location.OrderSoci)
	tagTemplate string
	tagChildren bool
	dryRun      bool
	inPlace     bool
	imageName   string

	log      *slog.Logger
	progress func(Event)
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		tagTemplate: registry.DefaultTagTemplate,
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		progress:    func(Event) {},
	}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ArgError is an argument or option value that cannot work: a malformed
// reference, a destination that cannot be written, conflicting options. Arg
// names it the way the CLI does: "SRC", "DST", or an option name such as
// "in-place" (the CLI shows it as --in-place).
type ArgError struct {
	Arg string
	Err error
	msg string // Err's message without the option's own name, when set
}

func (e *ArgError) Error() string {
	if e.msg != "" {
		return e.Arg + ": " + e.msg
	}
	return e.Arg + ": " + e.Err.Error()
}
func (e *ArgError) Unwrap() error { return e.Err }

// optionError names the option a convert option error is about
// ("invalid option: WithSpanSize: ..." is about span-size).
func optionError(err error) error {
	msg := strings.TrimPrefix(err.Error(), convert.ErrInvalidOption.Error()+": ")
	name, rest, ok := strings.Cut(msg, ": ")
	if !ok || !strings.HasPrefix(name, "With") {
		return &ArgError{Arg: "option", Err: err}
	}
	return &ArgError{Arg: optionName(name), Err: err, msg: rest}
}

// optionName turns WithMinLayerSize into min-layer-size, the CLI's flag.
func optionName(name string) string {
	if name == "WithPlatforms" {
		return "platform"
	}
	var b strings.Builder
	for i, r := range strings.TrimPrefix(name, "With") {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func argErrorf(arg, format string, args ...any) error {
	return &ArgError{Arg: arg, Err: fmt.Errorf(format, args...)}
}

// WithConvertOptions passes options to convert.Convert (span size, minimum
// layer size, platforms, cache, ...).
func WithConvertOptions(opts ...convert.Option) Option {
	return func(o *options) error {
		o.convert = append(o.convert, opts...)
		return nil
	}
}

// WithVerifyOptions passes options to verify.Inspect and verify.Verify.
func WithVerifyOptions(opts ...verify.Option) Option {
	return func(o *options) error {
		o.verify = append(o.verify, opts...)
		return nil
	}
}

// WithRegistryOptions adds options to the registry client (retries, user
// agent, TLS, a keychain that replaces the default credential chain).
func WithRegistryOptions(opts ...registry.Option) Option {
	return func(o *options) error {
		o.registry = append(o.registry, opts...)
		return nil
	}
}

// WithArchiveOrder chooses the entry order of an oci-archive: destination
// (location.WithArchiveOrder). location.OrderSoci writes soci's exact file,
// which, as soci does, drops the source's ref name; the default order keeps
// it, so that oci-archive:out.tar:NAME names the result as it named the
// source.
func WithArchiveOrder(order location.ArchiveOrder) Option {
	return func(o *options) error {
		if order != location.OrderOnePass && order != location.OrderSoci {
			return argErrorf("archive-order", "unknown order %d", order)
		}
		o.sociOrder = order == location.OrderSoci
		o.location = append(o.location, location.WithArchiveOrder(order))
		return nil
	}
}

// WithRegistryClient makes the call use c for every registry request, so
// that a program converting many images reuses its connections and tokens.
// Registry options given to this package (WithRegistryOptions,
// WithDefaultKeychain, WithCredentials, WithInsecure) are then ignored: c
// was built with its own.
func WithRegistryClient(c *registry.Client) Option {
	return func(o *options) error {
		if c == nil {
			return argErrorf("registry-client", "nil client")
		}
		o.client = c
		return nil
	}
}

// WithLocationOptions adds options to the source and the sink (archive
// order, hard links).
func WithLocationOptions(opts ...location.Option) Option {
	return func(o *options) error {
		o.location = append(o.location, opts...)
		return nil
	}
}

// WithDefaultKeychain configures the default credential chain, which is
// used unless WithKeychain replaces it; ecrOpts (profile, region, ...)
// configure its Amazon ECR link. Credentials are tried in this order:
// explicit credentials (--username with --password-stdin, or
// WithCredentials), then Amazon ECR (a GetAuthorizationToken token from the
// AWS credential chain, for ECR hosts only), then the docker configuration
// and its credential helpers; the first that has credentials for a registry
// is used, otherwise access is anonymous.
func WithDefaultKeychain(ecrOpts ...ecr.Option) Option {
	return func(o *options) error {
		o.ecr = append(o.ecr, ecrOpts...)
		return nil
	}
}

// WithKeychain replaces the default credential chain.
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return argErrorf("keychain", "nil keychain")
		}
		o.keychain = kc
		return nil
	}
}

// WithCredentials are explicit credentials for the registries the source
// and destination name; they come first in the default credential chain.
func WithCredentials(username, password string) Option {
	return func(o *options) error {
		if username == "" {
			return argErrorf("username", "empty user name")
		}
		if password == "" {
			return argErrorf("password", "empty password for user %q", username)
		}
		o.user, o.password, o.haveCreds = username, password, true
		return nil
	}
}

// WithInsecure skips TLS certificate verification for the registries the
// source and destination name (and only those).
func WithInsecure(b bool) Option {
	return func(o *options) error { o.insecure = b; return nil }
}

// WithPlainHTTP speaks plain HTTP to the registries the source and
// destination name.
func WithPlainHTTP(b bool) Option {
	return func(o *options) error { o.plainHTTP = b; return nil }
}

// WithTagTemplate names the tag of a registry destination given without a
// tag (and of the source's own repository when the destination is left
// out). Placeholders: {tag} (the source tag, or an archive's or layout's ref
// name) and {digest} (the source digest as sha256-<hex>). Default
// registry.DefaultTagTemplate, "{tag}-soci".
func WithTagTemplate(tmpl string) Option {
	return func(o *options) error {
		// Checked with stand-in values, so that a typo fails before any work
		// rather than after every layer was indexed.
		if _, err := registry.ExpandTag(tmpl, registry.TagVars{Tag: "t", Digest: stubDigest}); err != nil {
			return &ArgError{Arg: "tag-template", Err: err}
		}
		o.tagTemplate = tmpl
		return nil
	}
}

// WithTagChildren also tags each converted per-platform manifest
// {tag}-{os}-{arch}[-{variant}] (registry destinations only): ECR lifecycle
// rules and image scanning act on tagged manifests.
func WithTagChildren(b bool) Option {
	return func(o *options) error { o.tagChildren = b; return nil }
}

// WithDryRun reads and indexes the image and reports what would be written,
// writing nothing.
func WithDryRun(b bool) Option {
	return func(o *options) error { o.dryRun = b; return nil }
}

// WithInPlace adds the result to the oci: source layout itself, writing only
// the new blobs. The destination must be empty or the source.
func WithInPlace(b bool) Option {
	return func(o *options) error { o.inPlace = b; return nil }
}

// WithLogger logs what happens (retries, resumed downloads, warnings) to l.
// The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("socify: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithProgress calls f as layers are indexed and blobs written. f is called
// from several goroutines at once and must not block.
func WithProgress(f func(Event)) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("socify: nil progress function")
		}
		o.progress = f
		return nil
	}
}
