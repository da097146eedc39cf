package registry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// responseError builds the error go-containerregistry returns for a registry response, through
// its own transport.CheckError, so that the test sees exactly what remote.Head hands back.
func responseError(t *testing.T, method string, status int, body string) error {
	t.Helper()
	req := httptest.NewRequest(method, "https://registry.example.com/v2/team/app/manifests/v1", nil)
	resp := &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}
	err := transport.CheckError(resp, http.StatusOK)
	if err == nil {
		t.Fatalf("CheckError accepted status %d", status)
	}
	return err
}

func TestHeadError(t *testing.T) {
	const ref = "registry.example.com/team/app:v1"
	tests := []struct {
		name      string
		method    string
		status    int
		body      string
		kind      Kind
		wantParts []string
	}{
		{
			// The case the function exists for: HEAD answers 404 without a body, whether the tag
			// or the repository is missing.
			name: "HEAD 404 without body", method: http.MethodHead, status: http.StatusNotFound,
			kind:      KindManifestNotFound,
			wantParts: []string{"image " + ref + " does not exist: no such tag or digest, or no such repository \"team/app\"", "hint: check the repository and the tag"},
		},
		{
			name: "404 with MANIFEST_UNKNOWN", method: http.MethodGet, status: http.StatusNotFound,
			body:      `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`,
			kind:      KindManifestNotFound,
			wantParts: []string{ref + ": no such tag or digest"},
		},
		{
			name: "404 with NAME_UNKNOWN", method: http.MethodGet, status: http.StatusNotFound,
			body:      `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`,
			kind:      KindRepositoryNotFound,
			wantParts: []string{`repository "team/app" does not exist in registry.example.com`},
		},
		{
			name: "HEAD 401", method: http.MethodHead, status: http.StatusUnauthorized,
			kind:      KindUnauthorized,
			wantParts: []string{"rejected the credentials"},
		},
		{
			name: "HEAD 403", method: http.MethodHead, status: http.StatusForbidden,
			kind:      KindAccessDenied,
			wantParts: []string{"access denied pulling " + ref},
		},
		{
			name: "HEAD 500 stays unclassified", method: http.MethodHead, status: http.StatusInternalServerError,
			kind:      KindOther,
			wantParts: []string{"500"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := responseError(t, tc.method, tc.status, tc.body)
			err := headError(raw, ref)
			if got := KindOf(err); got != tc.kind {
				t.Fatalf("kind %v, want %v (error: %v)", got, tc.kind, err)
			}
			for _, p := range tc.wantParts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			// The registry's own answer stays reachable.
			var te *transport.Error
			if !errors.As(err, &te) || te.StatusCode != tc.status {
				t.Errorf("the transport error (status %d) is not wrapped: %v", tc.status, err)
			}
			if tc.kind != KindOther {
				var re *Error
				if !errors.As(err, &re) || re.Op != OpPull || re.Ref != ref {
					t.Errorf("not an *Error for a pull of %s: %#v", ref, err)
				}
			}
		})
	}
	if headError(nil, ref) != nil {
		t.Fatal("headError(nil) is not nil")
	}
}
