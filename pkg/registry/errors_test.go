package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func regErr(status int, code, msg string) error {
	return &transport.Error{StatusCode: status, Errors: []transport.Diagnostic{{Code: transport.ErrorCode(code), Message: msg}}}
}

func TestMapError(t *testing.T) {
	const ecrRef = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1"
	const hubRef = "registry.example.com/team/app:v1"
	tests := []struct {
		name      string
		err       error
		op        Op
		ref       string
		kind      Kind
		wantParts []string
	}{
		{
			name: "ecr repository missing on push",
			err:  regErr(404, "NAME_UNKNOWN", "The repository with name 'team/app' does not exist in the registry with id '123456789012'"),
			op:   OpPush, ref: ecrRef, kind: KindRepositoryNotFound,
			wantParts: []string{`repository "team/app" does not exist`, "create-on-push", "aws ecr create-repository --repository-name team/app"},
		},
		{
			name: "repository missing on pull",
			err:  regErr(404, "NAME_UNKNOWN", "repository name not known to registry"),
			op:   OpPull, ref: hubRef, kind: KindRepositoryNotFound,
			wantParts: []string{"check the repository name"},
		},
		{
			name: "manifest missing",
			err:  regErr(404, "MANIFEST_UNKNOWN", "Requested image not found"),
			op:   OpPull, ref: ecrRef, kind: KindManifestNotFound,
			wantParts: []string{"no such tag or digest"},
		},
		{
			name: "ecr denied on push",
			err:  regErr(403, "DENIED", "User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: ecr:InitiateLayerUpload"),
			op:   OpPush, ref: ecrRef, kind: KindAccessDenied,
			wantParts: []string{"access denied pushing", "ecr:PutImage", "ecr:InitiateLayerUpload"},
		},
		{
			name: "ecr denied on pull",
			err:  regErr(403, "DENIED", "not authorized to perform: ecr:BatchGetImage"),
			op:   OpPull, ref: ecrRef, kind: KindAccessDenied,
			wantParts: []string{"access denied pulling", "ecr:GetDownloadUrlForLayer"},
		},
		{
			name: "ecr token expired",
			err:  regErr(403, "DENIED", "Your authorization token has expired. Reauthenticate and try again."),
			op:   OpPull, ref: ecrRef, kind: KindTokenExpired,
			wantParts: []string{"expired during pull", "12 hours"},
		},
		{
			name: "no credentials",
			err:  &transport.Error{StatusCode: 401},
			op:   OpPull, ref: hubRef, kind: KindUnauthorized,
			wantParts: []string{"rejected the credentials", "docker login registry.example.com"},
		},
		{
			name: "ecr no credentials",
			err:  regErr(401, "UNAUTHORIZED", "authentication required"),
			op:   OpPush, ref: ecrRef, kind: KindUnauthorized,
			wantParts: []string{"AWS credentials", "socify auth check " + ecrRef},
		},
		{
			name: "throttled",
			err:  regErr(429, "TOOMANYREQUESTS", "Rate exceeded"),
			op:   OpPull, ref: ecrRef, kind: KindThrottled,
			wantParts: []string{"throttling", "--jobs"},
		},
		{
			name: "ecr immutable tag via registry API",
			err:  regErr(400, "TAG_INVALID", "The image tag 'v1' already exists in the 'team/app' repository and cannot be overwritten because the repository is immutable."),
			op:   OpPush, ref: ecrRef, kind: KindTagImmutable,
			wantParts: []string{"immutable", "pick another destination tag"},
		},
		{
			name: "ecr immutable tag via API",
			err:  fmt.Errorf("put image: %w", &smithy.GenericAPIError{Code: "ImageTagAlreadyExistsException", Message: "The image tag 'v1' already exists"}),
			op:   OpPush, ref: ecrRef, kind: KindTagImmutable,
			wantParts: []string{"pick another destination tag"},
		},
		{
			name: "aws api throttling",
			err:  &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"},
			op:   OpPull, ref: ecrRef, kind: KindThrottled,
		},
		{
			name: "aws session expired",
			err:  &smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "The security token included in the request is expired"},
			op:   OpPush, ref: ecrRef, kind: KindTokenExpired,
			wantParts: []string{"aws sso login"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrapped := fmt.Errorf("writing %s: %w", tt.ref, tt.err)
			got := MapError(wrapped, tt.op, tt.ref)
			var e *Error
			if !errors.As(got, &e) {
				t.Fatalf("MapError returned %T %v", got, got)
			}
			if e.Kind != tt.kind || KindOf(got) != tt.kind {
				t.Fatalf("kind = %v, want %v", e.Kind, tt.kind)
			}
			if !errors.Is(got, tt.err) {
				t.Fatal("mapped error does not wrap the original")
			}
			for _, p := range tt.wantParts {
				if !strings.Contains(got.Error(), p) {
					t.Errorf("message %q lacks %q", got.Error(), p)
				}
			}
			if MapError(got, OpPull, "x") != got {
				t.Error("mapping twice changed the error")
			}
		})
	}
}

func TestMapErrorLeavesOthers(t *testing.T) {
	for _, err := range []error{
		errors.New("disk full"),
		regErr(http.StatusBadRequest, "MANIFEST_INVALID", "bad manifest"),
		regErr(400, "TAG_INVALID", "manifest tag did not match URI"), // not an immutability complaint
	} {
		if got := MapError(err, OpPush, "r.example.com/a:b"); got != err {
			t.Errorf("MapError(%v) = %v, want unchanged", err, got)
		}
	}
	if MapError(nil, OpPull, "x") != nil {
		t.Error("MapError(nil) != nil")
	}
	if !IsTagImmutable(regErr(400, "TAG_INVALID", "cannot be overwritten because the repository is immutable")) {
		t.Error("IsTagImmutable missed the ECR error")
	}
}

func TestIsECRHost(t *testing.T) {
	for host, want := range map[string]bool{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":          true,
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com": true,
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":      true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:443":      true,
		"public.ecr.aws":           true,
		"registry.example.com":     false,
		"dkr.ecr.evil.example.com": false,
		"index.docker.io":          false,
	} {
		if got := isECRHost(host); got != want {
			t.Errorf("isECRHost(%q) = %v", host, got)
		}
	}
}

func TestIsAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"401", &transport.Error{StatusCode: http.StatusUnauthorized}, true},
		{"403 wrapped", fmt.Errorf("push: %w", &transport.Error{StatusCode: http.StatusForbidden}), true},
		{"mapped denied", MapError(&transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode}}}, OpPush, "r.example/app:1"), true},
		{"expired", &transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode, Message: "Your authorization token has expired"}}}, true},
		{"404", &transport.Error{StatusCode: http.StatusNotFound}, false},
		{"throttled", &transport.Error{StatusCode: http.StatusTooManyRequests}, false},
		{"other", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := IsAuth(tc.err); got != tc.want {
			t.Errorf("%s: IsAuth = %v, want %v", tc.name, got, tc.want)
		}
	}
}
