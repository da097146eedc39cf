package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Op is what socify was doing when a registry error happened; the advice differs.
type Op string

const (
	OpPull Op = "pull"
	OpPush Op = "push"
)

// Kind classifies registry errors a user can act on.
type Kind int

const (
	KindOther              Kind = iota
	KindRepositoryNotFound      // the repository does not exist
	KindManifestNotFound        // the tag or digest does not exist in the repository
	KindUnauthorized            // no credentials, or credentials the registry does not accept
	KindAccessDenied            // authenticated, but not allowed to pull or push here
	KindTokenExpired            // the registry token (ECR: 12 hours) or the AWS session expired
	KindThrottled               // rate limited, retries exhausted
	KindTagImmutable            // the tag exists and the repository does not allow moving it
)

func (k Kind) String() string {
	switch k {
	case KindRepositoryNotFound:
		return "repository not found"
	case KindManifestNotFound:
		return "image not found"
	case KindUnauthorized:
		return "unauthorized"
	case KindAccessDenied:
		return "access denied"
	case KindTokenExpired:
		return "token expired"
	case KindThrottled:
		return "throttled"
	case KindTagImmutable:
		return "tag immutable"
	}
	return "error"
}

// Error is a registry error in plain words. Err keeps the registry's own answer.
type Error struct {
	Kind    Kind
	Op      Op
	Ref     string
	Message string // one line: what went wrong
	Hint    string // what to do about it; may be empty
	Err     error
}

func (e *Error) Error() string {
	s := e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += "\nhint: " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, classifying it if MapError has not already.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return classify(err)
}

// IsAuth reports whether err says the registry refused the credentials or the access (no or
// rejected credentials, access denied, an expired token or session): the one rule behind the
// CLI's exit code 5.
func IsAuth(err error) bool {
	switch KindOf(err) {
	case KindUnauthorized, KindAccessDenied, KindTokenExpired:
		return true
	}
	return false
}

// IsTagImmutable reports whether err says the destination tag exists and cannot be moved (ECR's
// ImageTagAlreadyExistsException, or TAG_INVALID from its registry API).
func IsTagImmutable(err error) bool { return KindOf(err) == KindTagImmutable }

// apiError is what aws-sdk-go-v2 (smithy) errors implement; matching the interface keeps this
// package free of the SDK.
type apiError interface {
	ErrorCode() string
}

// MapError turns err from an operation on ref into an *Error with a plain message and a hint when
// it is one of the errors users meet (see Kind); other errors come back unchanged. nil stays nil.
func MapError(err error, op Op, ref string) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	kind := classify(err)
	if kind == KindOther {
		return err
	}
	host, repo := splitRef(ref)
	ecr := isECRHost(host)
	e := &Error{Kind: kind, Op: op, Ref: ref, Err: err}
	switch kind {
	case KindRepositoryNotFound:
		e.Message = fmt.Sprintf("repository %q does not exist in %s", repo, host)
		switch {
		case op == OpPush && ecr:
			e.Hint = fmt.Sprintf("Amazon ECR creates repositories on push only when a repository creation template allows it (create-on-push); create it first: aws ecr create-repository --repository-name %s", repo)
		case op == OpPush:
			e.Hint = "this registry does not create repositories on push; create the repository first"
		default:
			e.Hint = "check the repository name, and for Amazon ECR the account and region in the registry host"
		}
	case KindManifestNotFound:
		e.Message = fmt.Sprintf("%s: no such tag or digest", ref)
		e.Hint = "check the tag; `crane ls` or `aws ecr list-images` lists what exists"
	case KindUnauthorized:
		e.Message = fmt.Sprintf("%s rejected the credentials (or none were found) for %s", host, op)
		if ecr {
			e.Hint = "socify logs in to ECR with your AWS credentials (environment, profile, SSO, web identity, instance/task role); check them with `aws sts get-caller-identity` and `socify auth check " + ref + "`"
		} else {
			e.Hint = "log in with `docker login " + host + "` or pass --username/--password-stdin; `socify auth check " + ref + "` shows which credentials are used"
		}
	case KindAccessDenied:
		if op == OpPush {
			e.Message = fmt.Sprintf("access denied pushing to %s", ref)
			if ecr {
				e.Hint = "the AWS identity needs ecr:GetAuthorizationToken, ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage and ecr:BatchGetImage on the repository (for another account, its repository policy must allow them too); see docs/ecr.md"
			} else {
				e.Hint = "the credentials can read but not write this repository"
			}
		} else {
			e.Message = fmt.Sprintf("access denied pulling %s", ref)
			if ecr {
				e.Hint = "the AWS identity needs ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository (for another account, its repository policy must allow them too); see docs/ecr.md"
			} else {
				e.Hint = "the credentials are not allowed to read this repository"
			}
		}
	case KindTokenExpired:
		e.Message = fmt.Sprintf("the credentials for %s expired during %s", host, op)
		e.Hint = "ECR tokens last 12 hours and socify renews them itself; an expired AWS session (SSO, assumed role, OIDC) must be renewed: `aws sso login`, or a longer role session"
	case KindThrottled:
		e.Message = fmt.Sprintf("%s kept throttling requests (rate limit) during %s, retries exhausted", host, op)
		e.Hint = "lower --jobs or try again later; ECR rate quotas per account and region are in Service Quotas"
	case KindTagImmutable:
		e.Message = fmt.Sprintf("%s already exists and the repository's tags are immutable", ref)
		e.Hint = "pick another destination tag (DST or --tag-template, e.g. '{tag}-soci-{digest}'); socify never moves an immutable tag"
	}
	return e
}

// classify reads the registry's error codes (distribution spec), HTTP status, and AWS API error
// codes.
func classify(err error) Kind {
	var ae apiError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ImageTagAlreadyExistsException":
			return KindTagImmutable
		case "RepositoryNotFoundException":
			return KindRepositoryNotFound
		case "ImageNotFoundException":
			return KindManifestNotFound
		case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation":
			return KindAccessDenied
		case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
			return KindTokenExpired
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException":
			return KindThrottled
		case "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch":
			return KindUnauthorized
		}
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return KindOther
	}
	var msgs []string
	codes := map[transport.ErrorCode]bool{}
	for _, d := range te.Errors {
		codes[d.Code] = true
		msgs = append(msgs, d.Message)
	}
	lower := strings.ToLower(strings.Join(msgs, "; "))
	expired := strings.Contains(lower, "expired")
	switch {
	case codes["TAG_INVALID"] && (strings.Contains(lower, "immutable") || strings.Contains(lower, "already exists")):
		return KindTagImmutable
	case codes[transport.NameUnknownErrorCode]:
		return KindRepositoryNotFound
	case codes[transport.ManifestUnknownErrorCode]:
		return KindManifestNotFound
	case expired && (te.StatusCode == http.StatusForbidden || te.StatusCode == http.StatusUnauthorized):
		return KindTokenExpired
	case codes[transport.TooManyRequestsErrorCode] || te.StatusCode == http.StatusTooManyRequests:
		return KindThrottled
	case codes[transport.DeniedErrorCode] || te.StatusCode == http.StatusForbidden:
		return KindAccessDenied
	case codes[transport.UnauthorizedErrorCode] || te.StatusCode == http.StatusUnauthorized:
		return KindUnauthorized
	}
	return KindOther
}

func splitRef(ref string) (host, repo string) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		if repoRef, rerr := name.NewRepository(ref, name.WeakValidation); rerr == nil {
			return repoRef.RegistryStr(), repoRef.RepositoryStr()
		}
		return ref, ref
	}
	return r.Context().RegistryStr(), r.Context().RepositoryStr()
}

// isECRHost recognises Amazon ECR registries for advice only (pkg/ecr does the real parsing; this
// package stays free of the AWS SDK).
func isECRHost(host string) bool {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if h == "public.ecr.aws" {
		return true
	}
	return strings.Contains(h, ".dkr.ecr") && (strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn"))
}
