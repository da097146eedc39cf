// Package notfound is the one rule for "the source or destination does not
// have it", shared by the converter, the sinks, pkg/socify and pkg/fleet: a
// missing file (fs.ErrNotExist, layouts and archives), a registry 404 (a
// HEAD answer has no body to say what is missing), or a registry error code
// that names missing content, or an Amazon ECR API error that does.
package notfound

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Is reports whether err says the blob, manifest or repository is not there.
func Is(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	// aws-sdk-go-v2 (smithy) API errors implement ErrorCode; matching the interface keeps this
	// package free of the SDK.
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "RepositoryNotFoundException", "ImageNotFoundException":
			return true
		}
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode, transport.NameUnknownErrorCode:
			return true
		}
	}
	return false
}
