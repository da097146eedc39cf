package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/opencontainers/go-digest"
)

// The EventBridge event ECR sends for every image push, pull-through cache pull, replication
// and deletion (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html).
const (
	EventSource     = "aws.ecr"
	EventDetailType = "ECR Image Action"
)

// ImageAction is the detail of an "ECR Image Action" event.
type ImageAction struct {
	Result         string `json:"result"`      // SUCCESS or FAILURE
	ActionType     string `json:"action-type"` // PUSH, DELETE, ...
	RepositoryName string `json:"repository-name"`
	ImageDigest    string `json:"image-digest"`
	// ImageTag is empty for a push by digest (the children of a multi-platform push, SOCI
	// indexes, attestations).
	ImageTag string `json:"image-tag,omitempty"`
}

// ImageEvent is one image push to act on, with where it came from.
type ImageEvent struct {
	// ID is the EventBridge event id; MessageID the SQS message id (empty for a direct invocation
	// or a backfill).
	ID        string
	MessageID string
	Account   string
	Region    string
	ImageAction
}

// String names the image as registry tools do: repo:tag@digest.
func (e ImageEvent) String() string {
	s := e.RepositoryName
	if e.ImageTag != "" {
		s += ":" + e.ImageTag
	}
	if e.ImageDigest != "" {
		s += "@" + e.ImageDigest
	}
	return s
}

// ErrNotImageAction is returned by ParseEvent for JSON that is not an ECR image action event;
// retrying such a message cannot help.
var ErrNotImageAction = errors.New("not an ECR Image Action event")

// ParseEvent reads one EventBridge event (an SQS message body, or the payload of a direct
// invocation). It checks the envelope and the fields every decision needs; whether the action is
// one to convert is for Decide.
func ParseEvent(b []byte) (ImageEvent, error) {
	var ev events.CloudWatchEvent
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ev); err != nil {
		return ImageEvent{}, fmt.Errorf("%w: %v", ErrNotImageAction, err)
	}
	if ev.Source != EventSource || ev.DetailType != EventDetailType {
		return ImageEvent{}, fmt.Errorf("%w: source %q, detail-type %q", ErrNotImageAction, ev.Source, ev.DetailType)
	}
	out := ImageEvent{ID: ev.ID, Account: ev.AccountID, Region: ev.Region}
	if len(ev.Detail) == 0 {
		return out, fmt.Errorf("%w: event %s has no detail", ErrNotImageAction, ev.ID)
	}
	if err := json.Unmarshal(ev.Detail, &out.ImageAction); err != nil {
		return out, fmt.Errorf("%w: event %s: detail: %v", ErrNotImageAction, ev.ID, err)
	}
	if out.RepositoryName == "" {
		return out, fmt.Errorf("%w: event %s: detail has no repository-name", ErrNotImageAction, ev.ID)
	}
	// A failed push or a deletion may carry no digest; Decide skips those before the digest is
	// needed, so only a successful push must name a valid one.
	if out.ImageDigest != "" {
		if _, err := digest.Parse(out.ImageDigest); err != nil {
			return out, fmt.Errorf("%w: event %s: image-digest %q: %v", ErrNotImageAction, ev.ID, out.ImageDigest, err)
		}
	}
	return out, nil
}

// invocation is what one Lambda invocation carries.
type invocation struct {
	sqs    *events.SQSEvent // set for an SQS batch
	direct []byte           // the event itself, invoked directly (EventBridge target, backfill, tests)
}

// parseInvocation tells an SQS batch from a direct EventBridge event.
func parseInvocation(payload []byte) (invocation, error) {
	var probe struct {
		Records    json.RawMessage `json:"Records"`
		DetailType string          `json:"detail-type"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return invocation{}, fmt.Errorf("invocation payload is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0:
		var sqs events.SQSEvent
		if err := json.Unmarshal(payload, &sqs); err != nil {
			return invocation{}, fmt.Errorf("SQS event: %w", err)
		}
		for i, r := range sqs.Records {
			if r.EventSource != "" && r.EventSource != "aws:sqs" {
				return invocation{}, fmt.Errorf("record %d comes from %q, not aws:sqs", i, r.EventSource)
			}
		}
		return invocation{sqs: &sqs}, nil
	case probe.DetailType != "":
		return invocation{direct: payload}, nil
	}
	return invocation{}, fmt.Errorf("invocation payload is neither an SQS batch (Records) nor an EventBridge event (detail-type): %.200s", strings.TrimSpace(string(payload)))
}
