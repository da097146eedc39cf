package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ecrapi "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/socify/socify/internal/textout"
	"github.com/socify/socify/pkg/ecr"
)

// ECRAPI is what the backfill asks Amazon ECR (an *ecr.Client).
type ECRAPI interface {
	ecrapi.DescribeRepositoriesAPIClient
	ecrapi.DescribeImagesAPIClient
}

// SQSAPI is what the backfill asks Amazon SQS (an *sqs.Client) when it queues work.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// BackfillOptions says where the images come from and where the work goes.
type BackfillOptions struct {
	ECR ECRAPI
	// RegistryID is the account whose registry is listed (empty: the caller's own).
	RegistryID string
	// Region names the registry's region in the events.
	Region string
	// Queue and QueueURL: send one event per image to the function's queue instead of converting
	// here. The function then applies every rule again.
	Queue    SQSAPI
	QueueURL string
	// Concurrency bounds the conversions (or SendMessageBatch calls) at once; 0 means 1.
	Concurrency int
	// DryRun lists what would be done: the decisions that need no conversion, and "convert" for
	// the rest; nothing is written or sent.
	DryRun bool
}

// ErrNoRegion: neither the caller nor the SDK's configuration names an AWS region.
var ErrNoRegion = errors.New("no AWS region: give --aws-region or set AWS_REGION")

// LoadAWS is the AWS configuration of a backfill run outside Lambda: the SDK's default chain
// with profile and region applied (either may be empty), and the same two for the ECR keychain
// (WithECROptions), so that listing and pulling use one identity.
func LoadAWS(ctx context.Context, profile, region string) (aws.Config, []ecr.Option, error) {
	var load []func(*config.LoadOptions) error
	if profile != "" {
		load = append(load, config.WithSharedConfigProfile(profile))
	}
	if region != "" {
		load = append(load, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return cfg, nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, nil, ErrNoRegion
	}
	return cfg, []ecr.Option{ecr.WithProfile(profile), ecr.WithRegion(region)}, nil
}

// BackfillItem is one image of the backfill.
type BackfillItem struct {
	Image    string `json:"image"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Target   string `json:"target,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Error    string `json:"error,omitempty"`
	Queued   bool   `json:"queued,omitempty"`
}

// BackfillReport is what Backfill did, image by image, in listing order.
type BackfillReport struct {
	Repositories int            `json:"repositories"`
	Images       int            `json:"images"`
	Items        []BackfillItem `json:"items"`
	// Counts per decision code ("convert", "up-to-date", "failed", ...).
	Counts map[string]int `json:"counts"`
	DryRun bool           `json:"dryRun"`
}

// WriteText writes one line per image (its decision, and the target or the reason), then the
// totals.
func (r *BackfillReport) WriteText(w io.Writer) error {
	t := &textout.Writer{W: w}
	for _, it := range r.Items {
		switch {
		case it.Error != "":
			t.Printf("%-12s %s: %s\n", "failed", it.Image, it.Error)
		case it.Target != "" && it.Decision == CodeConvert:
			t.Printf("%-12s %s -> %s\n", it.Decision, it.Image, it.Target)
		default:
			t.Printf("%-12s %s: %s\n", it.Decision, it.Image, it.Reason)
		}
	}
	verb := ""
	if r.DryRun {
		verb = " (dry run: nothing written or sent)"
	}
	t.Printf("%d repositories, %d images%s: %s\n", r.Repositories, r.Images, verb, r.countsText())
	return t.Err
}

// countsText names the decisions users act on one by one and sums the other skips.
func (r *BackfillReport) countsText() string {
	var parts []string
	named := []string{CodeConvert, "queue", CodeUpToDate, CodeConversionFailure}
	for _, k := range named {
		if r.Counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r.Counts[k], k))
		}
	}
	other := 0
	for k, v := range r.Counts {
		if !slices.Contains(named, k) {
			other += v
		}
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", other))
	}
	return strings.Join(parts, ", ")
}

// Err is an error naming the images that failed, nil when none did.
func (r *BackfillReport) Err() error {
	var failed []string
	for _, it := range r.Items {
		if it.Error != "" {
			failed = append(failed, it.Image+": "+it.Error)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d images failed:\n  %s", len(failed), len(r.Items), strings.Join(failed, "\n  "))
}

// Backfill converts, or queues for the function, every existing image of the repositories the
// configuration's patterns match (DescribeRepositories, then DescribeImages, both paginated),
// one event per tag as if each had just been pushed. It is resumable: the images already done
// are skipped by the same rule that makes duplicate events no-ops, so running it again after an
// interruption only does what is left. Failures of single images are in the report (see
// BackfillReport.Err); the error is for what stops the whole run (listing, the queue).
func (f *Function) Backfill(ctx context.Context, o BackfillOptions) (*BackfillReport, error) {
	if o.ECR == nil {
		return nil, errors.New("backfill: no ECR client")
	}
	if (o.Queue == nil) != (o.QueueURL == "") {
		return nil, errors.New("backfill: a queue needs both a client and a URL")
	}
	conc := max(o.Concurrency, 1)
	rep := &BackfillReport{Counts: map[string]int{}, DryRun: o.DryRun}
	var evs []ImageEvent
	err := f.listImages(ctx, o, rep, func(ev ImageEvent) { evs = append(evs, ev) })
	if err != nil {
		return rep, err
	}
	rep.Items = make([]BackfillItem, len(evs))
	var todo []int // events the rules let through
	for i, ev := range evs {
		rep.Items[i] = BackfillItem{Image: ev.String()}
		d := f.rules.decide(ev)
		if !d.Convert {
			f.logDecision(ev, d)
			rep.Items[i].Decision, rep.Items[i].Reason = d.Code, d.Reason
			continue
		}
		todo = append(todo, i)
	}
	if o.Queue != nil {
		err = f.queue(ctx, o, conc, evs, todo, rep)
	} else {
		f.convertAll(ctx, o, conc, evs, todo, rep)
	}
	for _, it := range rep.Items {
		rep.Counts[it.Decision]++
	}
	return rep, err
}

func (f *Function) listImages(ctx context.Context, o BackfillOptions, rep *BackfillReport, add func(ImageEvent)) error {
	var regID *string
	if o.RegistryID != "" {
		regID = aws.String(o.RegistryID)
	}
	repos := ecrapi.NewDescribeRepositoriesPaginator(o.ECR, &ecrapi.DescribeRepositoriesInput{RegistryId: regID})
	for repos.HasMorePages() {
		page, err := repos.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing repositories: %w", err)
		}
		for _, r := range page.Repositories {
			name := aws.ToString(r.RepositoryName)
			if name == f.cfg.CacheRepository || f.cfg.ExcludeRepositories.Match(name) || !f.cfg.Repositories.Match(name) {
				continue
			}
			rep.Repositories++
			in := &ecrapi.DescribeImagesInput{RepositoryName: r.RepositoryName, RegistryId: r.RegistryId}
			if !f.cfg.ConvertUntagged {
				in.Filter = &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged}
			}
			imgs := ecrapi.NewDescribeImagesPaginator(o.ECR, in)
			for imgs.HasMorePages() {
				ipage, err := imgs.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("listing images of %s: %w", name, err)
				}
				for _, d := range ipage.ImageDetails {
					rep.Images++
					ev := ImageEvent{
						ID:      "socify-backfill",
						Account: aws.ToString(r.RegistryId),
						Region:  o.Region,
						ImageAction: ImageAction{Result: "SUCCESS", ActionType: "PUSH",
							RepositoryName: name, ImageDigest: aws.ToString(d.ImageDigest)},
					}
					if len(d.ImageTags) == 0 {
						add(ev)
					}
					for _, t := range d.ImageTags {
						ev.ImageTag = t
						add(ev)
					}
				}
			}
		}
	}
	return nil
}

func (f *Function) convertAll(ctx context.Context, o BackfillOptions, conc int, evs []ImageEvent, todo []int, rep *BackfillReport) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for _, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			var out *Outcome
			if ctx.Err() != nil {
				out = f.deadlineOutcome(ctx, evs[i])
			} else if o.DryRun {
				out = f.plan(ctx, evs[i])
			} else {
				out = f.Process(ctx, evs[i])
			}
			it := &rep.Items[i]
			it.Decision, it.Reason, it.Target = out.Decision.Code, out.Decision.Reason, out.Target
			if out.Result != nil {
				it.Digest = out.Result.Digest
			}
			if out.Err != nil {
				it.Decision, it.Error = CodeConversionFailure, out.Err.Error()
			}
		}()
	}
	wg.Wait()
}

// plan is Process without the conversion: every decision that reads no layer.
func (f *Function) plan(ctx context.Context, ev ImageEvent) *Outcome {
	o := &Outcome{Event: ev, Decision: f.rules.decide(ev)}
	if !o.Decision.Convert {
		return o
	}
	img, err := f.locate(ev)
	if err != nil {
		o.Err = err
		return o
	}
	o.Target = img.target.String()
	d, err := f.checkSource(ctx, img)
	switch {
	case err != nil:
		o.Err = err
	case d != nil:
		o.Decision = *d
	default:
		o.Decision.Reason = "would convert into " + o.Target + " (a no-op if it already holds the result)"
	}
	return o
}

// backfillEvent is the EventBridge event ECR would have sent for the push.
func backfillEvent(ev ImageEvent, n int) ([]byte, error) {
	return json.Marshal(map[string]any{
		"version":     "0",
		"id":          "socify-backfill-" + strconv.Itoa(n),
		"detail-type": EventDetailType,
		"source":      EventSource,
		"account":     ev.Account,
		"time":        time.Now().UTC().Format(time.RFC3339),
		"region":      ev.Region,
		"resources":   []string{},
		"detail":      ev.ImageAction,
	})
}

// queue sends the events in batches of ten (SendMessageBatch's limit), retrying entries SQS
// failed on its side.
func (f *Function) queue(ctx context.Context, o BackfillOptions, conc int, evs []ImageEvent, todo []int, rep *BackfillReport) error {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, conc)
		mu    sync.Mutex
		first error
	)
	for start := 0; start < len(todo); start += 10 {
		chunk := todo[start:min(start+10, len(todo))]
		for _, i := range chunk {
			rep.Items[i].Decision, rep.Items[i].Reason = "queue", "sent to "+o.QueueURL
		}
		if o.DryRun {
			for _, i := range chunk {
				rep.Items[i].Reason = "would send to " + o.QueueURL
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := f.sendBatch(ctx, o, evs, chunk, rep)
			if err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (f *Function) sendBatch(ctx context.Context, o BackfillOptions, evs []ImageEvent, chunk []int, rep *BackfillReport) error {
	pending := map[string]int{}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for _, i := range chunk {
		b, err := backfillEvent(evs[i], i)
		if err != nil {
			return err
		}
		id := strconv.Itoa(i)
		pending[id] = i
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(b))})
	}
	for attempt := 1; len(entries) > 0; attempt++ {
		out, err := o.Queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(o.QueueURL), Entries: entries})
		if err != nil {
			for _, e := range entries {
				rep.Items[pending[*e.Id]].Decision, rep.Items[pending[*e.Id]].Error = CodeConversionFailure, err.Error()
			}
			return fmt.Errorf("sending to %s: %w", o.QueueURL, err)
		}
		for _, ok := range out.Successful {
			rep.Items[pending[aws.ToString(ok.Id)]].Queued = true
		}
		var retry []sqstypes.SendMessageBatchRequestEntry
		for _, fl := range out.Failed {
			i := pending[aws.ToString(fl.Id)]
			if fl.SenderFault || attempt == 3 {
				rep.Items[i].Decision = CodeConversionFailure
				rep.Items[i].Error = fmt.Sprintf("SQS refused the message: %s: %s", aws.ToString(fl.Code), aws.ToString(fl.Message))
				continue
			}
			for _, e := range entries {
				if aws.ToString(e.Id) == aws.ToString(fl.Id) {
					retry = append(retry, e)
				}
			}
		}
		entries = retry
	}
	return nil
}
