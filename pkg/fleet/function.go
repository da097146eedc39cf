package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/internal/notfound"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

// Function turns ECR push events into SOCI conversions. One Function serves every invocation
// of a Lambda execution environment: credentials (ECR tokens) and the zTOC cache client are
// shared between invocations.
type Function struct {
	cfg      Config
	rules    *rules
	log      *slog.Logger
	ecrOpts  []ecr.Option
	regOpts  []registry.Option
	sopts    []socify.Option
	keychain authn.Keychain // nil: an ECR chain per account and region

	mu      sync.Mutex
	clients map[string]*registry.Client
}

// Option configures New.
type Option func(*Function) error

// WithLogOutput sends the JSON log lines (and the embedded metrics in them) to w instead of
// stdout, where Lambda collects them.
func WithLogOutput(w io.Writer) Option {
	return func(f *Function) error {
		if w == nil {
			return errors.New("fleet: nil log output")
		}
		f.log = newLogger(w, f.cfg.Debug)
		return nil
	}
}

// WithECROptions configures the ECR credential keychain (endpoint, AWS configuration).
func WithECROptions(opts ...ecr.Option) Option {
	return func(f *Function) error { f.ecrOpts = append(f.ecrOpts, opts...); return nil }
}

// WithKeychain replaces the ECR credential chain (tests, or registries outside ECR).
func WithKeychain(kc authn.Keychain) Option {
	return func(f *Function) error {
		if kc == nil {
			return errors.New("fleet: nil keychain")
		}
		f.keychain = kc
		return nil
	}
}

// WithRegistryOptions adds registry client options (retries, transport) to every registry call.
func WithRegistryOptions(opts ...registry.Option) Option {
	return func(f *Function) error { f.regOpts = append(f.regOpts, opts...); return nil }
}

// WithSocifyOptions adds options to every socify.Convert call.
func WithSocifyOptions(opts ...socify.Option) Option {
	return func(f *Function) error { f.sopts = append(f.sopts, opts...); return nil }
}

// New makes the function from a validated configuration.
func New(cfg Config, opts ...Option) (*Function, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRules(&cfg)
	if err != nil {
		return nil, err
	}
	f := &Function{cfg: cfg, rules: r, clients: map[string]*registry.Client{}}
	f.log = newLogger(os.Stdout, cfg.Debug)
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Outcome is what became of one event.
type Outcome struct {
	Event    ImageEvent
	Decision Decision
	// Target is the tag the result goes to (repo:tag), once known.
	Target string
	Result *socify.Result
	Err    error
	// Permanent: a retry cannot succeed (immutable tag, corrupt or unsupported image).
	Permanent bool
}

// retry reports whether the message must go back to the queue.
func (o *Outcome) retry(cfg *Config) bool {
	return o.Err != nil && (!o.Permanent || cfg.RetryPermanent)
}

// Response is the answer to a direct invocation.
type Response struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Target   string `json:"target,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Error    string `json:"error,omitempty"`
	Retry    bool   `json:"retry,omitempty"`
}

// Invoke is the Lambda handler: an SQS batch gets an events.SQSEventResponse listing the
// messages to retry (ReportBatchItemFailures); a direct event gets a Response, or an error when
// it should be retried.
func (f *Function) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	start := time.Now()
	kind, messages, retried := "rejected", 0, 0
	defer func() { f.logInvocation(kind, messages, retried, time.Since(start)) }()
	inv, err := parseInvocation(payload)
	if err != nil {
		f.log.Error("invocation rejected", "error", err.Error())
		return nil, err
	}
	ctx, cancel := f.workContext(ctx)
	defer cancel()
	if inv.sqs != nil {
		kind, messages = "sqs", len(inv.sqs.Records)
		resp := f.HandleSQS(ctx, inv.sqs)
		retried = len(resp.BatchItemFailures)
		return resp, nil
	}
	kind, messages = "event", 1
	ev, err := ParseEvent(inv.direct)
	if err != nil {
		f.logDecision(ImageEvent{}, skip(CodeNotAnImageAction, "%v", err))
		return Response{Decision: CodeNotAnImageAction, Reason: err.Error()}, nil
	}
	o := f.Process(ctx, ev)
	resp := Response{Decision: o.Decision.Code, Reason: o.Decision.Reason, Target: o.Target}
	if o.Result != nil {
		resp.Digest = o.Result.Digest
	}
	if o.Err != nil {
		resp.Error, resp.Retry = o.Err.Error(), o.retry(&f.cfg)
		if resp.Retry {
			retried = 1
			// An asynchronous invocation (EventBridge target) is retried by Lambda only when
			// the handler fails.
			return nil, o.Err
		}
	}
	return resp, nil
}

// workContext ends the work DeadlineMargin before the invocation deadline, so that there is
// time to cancel uploads and answer: a function killed at its deadline would fail the whole
// batch instead of the unfinished messages.
func (f *Function) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-f.cfg.DeadlineMargin))
	}
	return context.WithCancel(ctx)
}

// HandleSQS processes a batch. Messages naming the same image and tag are converted once; the
// response lists the messages to deliver again.
func (f *Function) HandleSQS(ctx context.Context, batch *events.SQSEvent) events.SQSEventResponse {
	type slot struct {
		done chan struct{}
		out  *Outcome
	}
	var (
		mu    sync.Mutex
		first = map[string]*slot{}
		resp  events.SQSEventResponse
		wg    sync.WaitGroup
		sem   = make(chan struct{}, f.cfg.Concurrency)
	)
	fail := func(id string) {
		mu.Lock()
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		mu.Unlock()
	}
	for _, rec := range batch.Records {
		ev, err := ParseEvent([]byte(rec.Body))
		ev.MessageID = rec.MessageId
		if err != nil {
			// Retrying a message that is not an ECR event cannot help.
			f.logDecision(ev, skip(CodeNotAnImageAction, "%v", err))
			continue
		}
		key := ev.RepositoryName + ":" + ev.ImageTag + "@" + ev.ImageDigest
		mu.Lock()
		s, dup := first[key]
		if !dup {
			s = &slot{done: make(chan struct{})}
			first[key] = s
		}
		mu.Unlock()
		if dup {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-s.done
				// The first message carries the work and its retry; this one is done.
				f.logDecision(ev, skip(CodeDuplicate, "same image and tag as message %s in this batch (%s)", s.out.Event.MessageID, s.out.Decision.Code))
			}()
			continue
		}
		// Taken here, in batch order, so that messages start in the order SQS gave them.
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if acquired {
				<-sem
			}
			s.out = f.deadlineOutcome(ctx, ev)
			close(s.done)
			if s.out.retry(&f.cfg) {
				fail(rec.MessageId)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.done)
			s.out = f.Process(ctx, ev)
			<-sem
			if s.out.retry(&f.cfg) {
				fail(rec.MessageId)
			}
		}()
	}
	wg.Wait()
	return resp
}

func (f *Function) deadlineOutcome(ctx context.Context, ev ImageEvent) *Outcome {
	o := &Outcome{Event: ev, Decision: skip(CodeDeadline, "the invocation deadline came before this message was started"), Err: context.Cause(ctx)}
	f.logDecision(ev, o.Decision)
	return o
}

// Process decides what to do with one event and does it. Every decision is logged with its
// reason, every conversion with its figures.
func (f *Function) Process(ctx context.Context, ev ImageEvent) *Outcome {
	o := &Outcome{Event: ev, Decision: f.rules.decide(ev)}
	if !o.Decision.Convert {
		f.logDecision(ev, o.Decision)
		return o
	}
	img, err := f.locate(ev)
	if err != nil {
		return f.failed(ctx, o, nil, err, true)
	}
	o.Target = img.target.String()
	if d, err := f.check(ctx, img); err != nil {
		return f.failed(ctx, o, img, err, false)
	} else if d != nil {
		o.Decision = *d
		f.logDecision(ev, o.Decision)
		return o
	}
	return f.convert(ctx, o, img)
}

// image names the source and target of one event.
type image struct {
	ev     ImageEvent
	source name.Digest
	tag    name.Tag // the pushed tag; zero for an untagged push
	target name.Tag
}

func (f *Function) nameOptions() []name.Option {
	if f.cfg.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// locate works out the registry host and the target tag.
func (f *Function) locate(ev ImageEvent) (*image, error) {
	host := f.cfg.Registry
	if host == "" {
		if ev.Account == "" || ev.Region == "" {
			return nil, fmt.Errorf("event %s names no account and region, and %s is not set", ev.ID, EnvRegistry)
		}
		host = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", ev.Account, ev.Region)
		if strings.HasPrefix(ev.Region, "cn-") {
			host += ".cn"
		}
	}
	repo, err := name.NewRepository(host+"/"+ev.RepositoryName, f.nameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("event %s: repository %q: %w", ev.ID, ev.RepositoryName, err)
	}
	img := &image{ev: ev, source: repo.Digest(ev.ImageDigest)}
	h, err := v1.NewHash(ev.ImageDigest)
	if err != nil {
		return nil, fmt.Errorf("event %s: image-digest: %w", ev.ID, err)
	}
	tmpl := f.cfg.TagTemplate
	if ev.ImageTag == "" {
		tmpl = f.cfg.UntaggedTemplate
	} else {
		img.tag = repo.Tag(ev.ImageTag)
	}
	tag, err := registry.ExpandTag(tmpl, registry.TagVars{Tag: ev.ImageTag, Digest: h})
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	img.target = repo.Tag(tag)
	return img, nil
}

// clientFor returns the registry client for an event's registry: one per account and region,
// with an ECR credential chain, kept for the life of the execution environment so that
// connections and tokens are reused across invocations.
func (f *Function) clientFor(ev ImageEvent) (*registry.Client, error) {
	key := ev.Account + "/" + ev.Region
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok {
		return c, nil
	}
	kc := f.keychain
	if kc == nil {
		opts := append([]ecr.Option{}, f.ecrOpts...)
		if f.cfg.Registry != "" {
			// The registry under another name (VPC endpoint alias, proxy, test registry) is
			// still the event's ECR registry.
			opts = append(opts, ecr.WithHost(f.cfg.Registry, ev.Account, ev.Region))
		}
		kc = ecr.DefaultChain(ecr.NewKeychain(opts...), nil)
	}
	c, err := registry.NewClient(append([]registry.Option{registry.WithKeychain(kc)}, f.regOpts...)...)
	if err != nil {
		return nil, err
	}
	f.clients[key] = c
	return c, nil
}

// check runs the decisions that read the registry: a stale event, an image that is SOCI-enabled
// already, a target tag that holds the result already. nil means convert.
func (f *Function) check(ctx context.Context, img *image) (*Decision, error) {
	if d, err := f.checkSource(ctx, img); d != nil || err != nil {
		return d, err
	}
	if img.target.TagStr() == img.tag.TagStr() {
		// In place: the tag points at the pushed image, which is not SOCI-enabled.
		return nil, nil
	}
	client, err := f.clientFor(img.ev)
	if err != nil {
		return nil, err
	}
	t, err := remote.Head(img.target, client.RemoteOptions(ctx)...)
	if notfound.Is(err) {
		return nil, nil
	}
	if err != nil {
		return nil, registry.MapError(err, registry.OpPull, img.target.String())
	}
	// The target exists: a duplicate delivery, or an earlier image under the same tag. Work out
	// what this event would write (with the zTOC cache this reads no layer) and compare.
	res, err := socify.Convert(ctx, "docker://"+img.source.String(), "docker://"+img.target.String(), f.socifyOptions(client, img, socify.WithDryRun(true))...)
	if err != nil {
		return nil, err
	}
	if res.Digest == t.Digest.String() {
		s := skip(CodeUpToDate, "tag %s already points at the result %s (a duplicate delivery)", img.target, res.Digest)
		return &s, nil
	}
	return nil, nil
}

// checkSource is the part of check that reads only manifests of the source.
func (f *Function) checkSource(ctx context.Context, img *image) (*Decision, error) {
	client, err := f.clientFor(img.ev)
	if err != nil {
		return nil, err
	}
	ro := client.RemoteOptions(ctx)
	if img.tag.TagStr() != "" {
		// Events come out of order and late: converting a digest its tag has left would move
		// the target back to an old image.
		d, err := remote.Head(img.tag, ro...)
		switch {
		case notfound.Is(err):
			s := skip(CodeGone, "tag %s no longer exists", img.tag)
			return &s, nil
		case err != nil:
			return nil, registry.MapError(err, registry.OpPull, img.tag.String())
		case d.Digest.String() != img.ev.ImageDigest:
			s := skip(CodeSuperseded, "tag %s now points at %s, not at the pushed %s (a later push, or this function's own in-place result)", img.tag, d.Digest, img.ev.ImageDigest)
			return &s, nil
		}
	}
	desc, err := remote.Get(img.source, ro...)
	if notfound.Is(err) {
		s := skip(CodeGone, "image %s no longer exists", img.source)
		return &s, nil
	}
	if err != nil {
		return nil, registry.MapError(err, registry.OpPull, img.source.String())
	}
	return sociState(desc.MediaType, desc.Manifest), nil
}

func (f *Function) socifyOptions(client *registry.Client, img *image, extra ...socify.Option) []socify.Option {
	var copts []convert.Option
	if f.cfg.SpanSize > 0 {
		copts = append(copts, convert.WithSpanSize(f.cfg.SpanSize))
	}
	if f.cfg.MinLayerSize >= 0 {
		copts = append(copts, convert.WithMinLayerSize(f.cfg.MinLayerSize))
	}
	if f.cfg.BuildToolIdentifier != "" {
		copts = append(copts, convert.WithBuildToolIdentifier(f.cfg.BuildToolIdentifier))
	}
	if f.cfg.CacheRepository != "" {
		c := NewRegistryCache(client, img.target.Context().Registry.Repo(f.cfg.CacheRepository), f.log)
		copts = append(copts, convert.WithCacheStore(c.MountInto(img.target.Context())))
	}
	opts := []socify.Option{
		socify.WithRegistryClient(client),
		socify.WithPlainHTTP(f.cfg.PlainHTTP),
		socify.WithLogger(f.log.With("image", img.ev.String())),
		socify.WithTagChildren(f.cfg.TagChildren),
		socify.WithConvertOptions(copts...),
	}
	opts = append(opts, f.sopts...)
	return append(opts, extra...)
}

func (f *Function) convert(ctx context.Context, o *Outcome, img *image) *Outcome {
	f.logDecision(o.Event, o.Decision)
	start := time.Now()
	client, err := f.clientFor(img.ev)
	if err != nil {
		return f.failed(ctx, o, img, err, false)
	}
	res, err := socify.Convert(ctx, "docker://"+img.source.String(), "docker://"+img.target.String(), f.socifyOptions(client, img)...)
	o.Result = res
	if err != nil {
		o.Err, o.Permanent = f.explain(ctx, img, err)
	}
	f.logConversion(o, time.Since(start))
	return o
}

// failed records an error met before the conversion started.
func (f *Function) failed(ctx context.Context, o *Outcome, img *image, err error, permanent bool) *Outcome {
	o.Err, o.Permanent = err, permanent
	if !permanent {
		o.Err, o.Permanent = f.explain(ctx, img, err)
	}
	o.Decision = Decision{Code: CodeConversionFailure, Reason: o.Err.Error()}
	f.logDecision(o.Event, o.Decision)
	return o
}
