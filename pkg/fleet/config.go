package fleet

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/socify/socify/pkg/registry"
)

// Config is the function's configuration. FromEnv reads it from the environment; every field is
// validated there, at cold start, so that a typo fails the function's init with a message naming
// the variable instead of failing every message.
type Config struct {
	// Repositories and Tags are include patterns, ExcludeRepositories and ExcludeTags exclude
	// patterns (exclusion wins). See Patterns for the syntax.
	Repositories, ExcludeRepositories Patterns
	Tags, ExcludeTags                 Patterns

	// TagTemplate names the converted image's tag ({tag}, {digest}); "{tag}" converts in place.
	TagTemplate string
	// UntaggedTemplate names the result of an untagged push when ConvertUntagged is set; it cannot
	// use {tag}.
	UntaggedTemplate string
	ConvertUntagged  bool
	TagChildren      bool

	// Registry replaces the registry host the event implies
	// (<account>.dkr.ecr.<region>.amazonaws.com): a VPC endpoint name, or a test registry.
	Registry  string
	PlainHTTP bool

	// CacheRepository is the repository holding shared zTOCs; empty turns the shared cache off.
	CacheRepository string

	SpanSize            int64 // 0: the converter's default
	MinLayerSize        int64 // -1: the converter's default
	BuildToolIdentifier string

	// RetryPermanent reports permanent failures (immutable tag, corrupt or unsupported image) as
	// batch item failures too, so that they end in the dead-letter queue; by default they are
	// logged, counted and dropped, since a retry cannot succeed.
	RetryPermanent bool
	// DeadlineMargin is kept free before the invocation deadline to cancel the work and answer.
	DeadlineMargin time.Duration
	// Concurrency is how many messages of a batch are converted at once.
	Concurrency int
	// MetricsNamespace is the CloudWatch namespace of the embedded metrics.
	MetricsNamespace string
	Debug            bool
}

// Environment variables FromEnv reads.
const (
	EnvRepositories        = "SOCIFY_REPOSITORIES"
	EnvExcludeRepositories = "SOCIFY_EXCLUDE_REPOSITORIES"
	EnvTags                = "SOCIFY_TAGS"
	EnvExcludeTags         = "SOCIFY_EXCLUDE_TAGS"
	EnvTagTemplate         = "SOCIFY_TAG_TEMPLATE"
	EnvUntaggedTemplate    = "SOCIFY_UNTAGGED_TAG_TEMPLATE"
	EnvConvertUntagged     = "SOCIFY_CONVERT_UNTAGGED"
	EnvTagChildren         = "SOCIFY_TAG_CHILDREN"
	EnvRegistry            = "SOCIFY_REGISTRY"
	EnvPlainHTTP           = "SOCIFY_PLAIN_HTTP"
	EnvCacheRepository     = "SOCIFY_CACHE_REPOSITORY"
	EnvSpanSize            = "SOCIFY_SPAN_SIZE"
	EnvMinLayerSize        = "SOCIFY_MIN_LAYER_SIZE"
	EnvBuildToolIdentifier = "SOCIFY_BUILD_TOOL_IDENTIFIER"
	EnvPermanentErrors     = "SOCIFY_PERMANENT_ERRORS"
	EnvDeadlineMargin      = "SOCIFY_DEADLINE_MARGIN"
	EnvConcurrency         = "SOCIFY_CONCURRENCY"
	EnvMetricsNamespace    = "SOCIFY_METRICS_NAMESPACE"
	EnvLogLevel            = "SOCIFY_LOG_LEVEL"
)

// Defaults.
const (
	DefaultCacheRepository  = "socify-ztoc-cache"
	DefaultUntaggedTemplate = "{digest}-soci"
	DefaultDeadlineMargin   = 10 * time.Second
	DefaultMetricsNamespace = "socify"
)

// FromFlags reads the configuration with get, which returns the setting named the way the
// CLI's flags are ("tag-template" for SOCIFY_TAG_TEMPLATE), so that "socify backfill" and the
// function share one parser; errors name the flags ("--tag-template"). A run outside Lambda has
// no deadline, so the deadline margin defaults to 0, and a concurrency below 1 means 1.
func FromFlags(get func(flag string) string) (Config, error) {
	flag := func(key string) string {
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(key, "SOCIFY_")), "_", "-")
	}
	return parse(func(key string) string {
		v := get(flag(key))
		switch {
		case key == EnvDeadlineMargin && v == "":
			return "0s"
		case key == EnvConcurrency:
			if n, err := strconv.Atoi(v); err == nil && n < 1 {
				return "1"
			}
		}
		return v
	}, func(key string) string { return "--" + flag(key) })
}

// FromEnv reads the configuration with getenv (os.Getenv in the function). All problems are
// reported at once, each naming its variable.
func FromEnv(getenv func(string) string) (Config, error) {
	return parse(getenv, envName)
}

// envName names a setting by its variable.
func envName(key string) string { return key }

// parse reads the settings with getenv; name says how messages call a setting (its variable,
// or the CLI flag that sets it).
func parse(getenv func(key string) string, name func(key string) string) (Config, error) {
	c := Config{
		TagTemplate:      registry.DefaultTagTemplate,
		UntaggedTemplate: DefaultUntaggedTemplate,
		CacheRepository:  DefaultCacheRepository,
		MinLayerSize:     -1,
		DeadlineMargin:   DefaultDeadlineMargin,
		Concurrency:      1,
		MetricsNamespace: DefaultMetricsNamespace,
	}
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s=%q: %w", name(key), getenv(key), err)) }
	pat := func(key string, def string) Patterns {
		v := getenv(key)
		if v == "" {
			v = def
		}
		p, err := ParsePatterns(v)
		if err != nil {
			bad(key, err)
		}
		return p
	}
	flag := func(key string) bool {
		v := getenv(key)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(key, errors.New("want true or false"))
		}
		return b
	}
	size := func(key string, def int64) int64 {
		v := getenv(key)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad(key, errors.New("want a number of bytes ≥ 0"))
		}
		return n
	}
	c.Repositories = pat(EnvRepositories, "**")
	c.ExcludeRepositories = pat(EnvExcludeRepositories, "")
	c.Tags = pat(EnvTags, "**")
	c.ExcludeTags = pat(EnvExcludeTags, "")
	if v := getenv(EnvTagTemplate); v != "" {
		c.TagTemplate = v
	}
	if v := getenv(EnvUntaggedTemplate); v != "" {
		c.UntaggedTemplate = v
	}
	c.ConvertUntagged = flag(EnvConvertUntagged)
	c.TagChildren = flag(EnvTagChildren)
	c.Registry = getenv(EnvRegistry)
	c.PlainHTTP = flag(EnvPlainHTTP)
	switch v := getenv(EnvCacheRepository); v {
	case "":
	case "off", "none", "false":
		c.CacheRepository = ""
	default:
		c.CacheRepository = v
	}
	c.SpanSize = size(EnvSpanSize, 0)
	c.MinLayerSize = size(EnvMinLayerSize, -1)
	c.BuildToolIdentifier = getenv(EnvBuildToolIdentifier)
	switch v := getenv(EnvPermanentErrors); v {
	case "", "drop":
	case "retry":
		c.RetryPermanent = true
	default:
		bad(EnvPermanentErrors, errors.New("want drop (log, count, delete the message) or retry (report it failed, so it ends in the dead-letter queue)"))
	}
	if v := getenv(EnvDeadlineMargin); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(EnvDeadlineMargin, errors.New("want a duration ≥ 0 such as 10s"))
		}
		c.DeadlineMargin = d
	}
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			bad(EnvConcurrency, errors.New("want a number from 1 to 64"))
		}
		c.Concurrency = n
	}
	if v := getenv(EnvMetricsNamespace); v != "" {
		c.MetricsNamespace = v
	}
	switch v := getenv(EnvLogLevel); strings.ToLower(v) {
	case "", "info":
	case "debug":
		c.Debug = true
	default:
		bad(EnvLogLevel, errors.New("want info or debug"))
	}
	if err := c.validate(name); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Validate checks what FromEnv cannot check one variable at a time.
func (c *Config) Validate() error { return c.validate(envName) }

func (c *Config) validate(name func(key string) string) error {
	var errs []error
	stub := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if _, err := registry.ExpandTag(c.TagTemplate, registry.TagVars{Tag: "t", Digest: stub}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name(EnvTagTemplate), err))
	}
	if c.ConvertUntagged {
		if strings.Contains(c.UntaggedTemplate, "{tag}") {
			errs = append(errs, fmt.Errorf("%s=%q: an untagged push has no {tag}; use {digest}", name(EnvUntaggedTemplate), c.UntaggedTemplate))
		} else if _, err := registry.ExpandTag(c.UntaggedTemplate, registry.TagVars{Digest: stub}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name(EnvUntaggedTemplate), err))
		}
	}
	if c.SpanSize < 0 || c.SpanSize > 1<<30 {
		errs = append(errs, fmt.Errorf("%s: must be at most 1 GiB", name(EnvSpanSize)))
	}
	return errors.Join(errs...)
}

// InPlace reports whether the result replaces the pushed tag.
func (c *Config) InPlace() bool { return c.TagTemplate == "{tag}" }

// ownTags matches the tags this configuration writes: the template with {tag} standing for any
// tag, and the per-platform child tags of those. In place it matches nothing: the function's own
// pushes there carry the user's tag and are recognised as SOCI-enabled instead.
func (c *Config) ownTags() (*regexp.Regexp, error) {
	var alts []string
	for _, t := range []string{c.TagTemplate, c.UntaggedTemplate} {
		if t == "{tag}" {
			continue
		}
		re, err := templateRegexp(t)
		if err != nil {
			return nil, err
		}
		alts = append(alts, re)
	}
	if len(alts) == 0 {
		return nil, nil
	}
	base := "(?:" + strings.Join(alts, "|") + ")"
	return regexp.Compile("^" + base + "(?:-[A-Za-z0-9_.-]+)?$")
}

func templateRegexp(tmpl string) (string, error) {
	var b strings.Builder
	rest := tmpl
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("tag template %q: unclosed '{'", tmpl)
		}
		switch key := rest[i+1 : i+j]; key {
		case "tag":
			b.WriteString(`[A-Za-z0-9_][A-Za-z0-9._-]*`)
		case "digest":
			b.WriteString(`[a-z0-9]+-[a-f0-9]{32,}`)
		default:
			b.WriteString(`[A-Za-z0-9_.-]+`)
		}
		rest = rest[i+j+1:]
	}
	return b.String(), nil
}

// Patterns is a list of glob patterns: "*" matches within one path segment (no '/'), "**" any
// run of characters, "?" one character other than '/'. A name matches the list when it matches
// one of them. The empty list matches nothing.
type Patterns struct {
	src []string
	res []*regexp.Regexp
}

// ParsePatterns reads a comma- or whitespace-separated list.
func ParsePatterns(s string) (Patterns, error) {
	var p Patterns
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		var b strings.Builder
		b.WriteByte('^')
		for i := 0; i < len(f); i++ {
			switch c := f[i]; {
			case c == '*' && i+1 < len(f) && f[i+1] == '*':
				b.WriteString(".*")
				i++
			case c == '*':
				b.WriteString("[^/]*")
			case c == '?':
				b.WriteString("[^/]")
			case c == '[' || c == ']' || c == '{' || c == '}':
				return Patterns{}, fmt.Errorf("pattern %q: %q is not supported (only *, ** and ?)", f, string(c))
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteByte('$')
		re, err := regexp.Compile(b.String())
		if err != nil {
			return Patterns{}, fmt.Errorf("pattern %q: %w", f, err)
		}
		p.src = append(p.src, f)
		p.res = append(p.res, re)
	}
	return p, nil
}

// MustPatterns is ParsePatterns for literals in tests and examples.
func MustPatterns(s string) Patterns {
	p, err := ParsePatterns(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Match returns the first pattern matching name, or "".
func (p Patterns) match(name string) string {
	for i, re := range p.res {
		if re.MatchString(name) {
			return p.src[i]
		}
	}
	return ""
}

// Match reports whether name matches one of the patterns.
func (p Patterns) Match(name string) bool { return p.match(name) != "" }

func (p Patterns) String() string { return strings.Join(p.src, ",") }

// MemoryLimit is the Go heap limit for a function with AWS_LAMBDA_FUNCTION_MEMORY_SIZE MB:
// three quarters of it, leaving the rest to goroutine stacks, the runtime and the HTTP buffers
// outside the heap. 0 when GOMEMLIMIT is set (the runtime reads it) or the size is unknown.
func MemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 {
		return 0
	}
	return mb << 20 * 3 / 4
}
