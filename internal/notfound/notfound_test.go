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
		{"other", errors.New("boom"), false},
	} {
		if got := Is(tc.err); got != tc.want {
			t.Errorf("%s: Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}
