package notfound

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"missing file", fmt.Errorf("blob x: %w", fs.ErrNotExist), true},
		{"404 without body", &transport.Error{StatusCode: http.StatusNotFound}, true},
		{"manifest unknown", fmt.Errorf("get: %w", &transport.Error{StatusCode: http.StatusBadRequest, Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode}}}), true},
		{"name unknown", &transport.Error{StatusCode: http.StatusBadRequest, Errors: []transport.Diagnostic{{Code: transport.NameUnknownErrorCode}}}, true},
		{"denied", &transport.Error{StatusCode: http.StatusForbidden, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode}}}, false},
		{"server error", &transport.Error{StatusCode: http.StatusInternalServerError}, false},
		{"ECR repository not found", fmt.Errorf("describe: %w", apiErr("RepositoryNotFoundException")), true},
		{"ECR image not found", apiErr("ImageNotFoundException"), true},
		{"ECR throttled", apiErr("ThrottlingException"), false},
		{"registry.Error wrapping a 404", &wrapped{&transport.Error{StatusCode: http.StatusNotFound}}, true},
		{"other", errors.New("boom"), false},
	} {
		if got := Is(tc.err); got != tc.want {
			t.Errorf("%s: Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// apiErr is the shape of an aws-sdk-go-v2 API error.
type apiErr string

func (e apiErr) Error() string     { return string(e) }
func (e apiErr) ErrorCode() string { return string(e) }

// wrapped is how pkg/registry's Error keeps the registry's own answer.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return "mapped: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
