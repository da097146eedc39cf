package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

// explain words a failure for the log and decides whether a retry can help. Transient: the
// deadline, throttling, 5xx, broken connections, expired credentials. Permanent: an immutable
// target tag, an image no layer of which can be indexed (zstd only, all small), a corrupt layer,
// a configuration that cannot work.
func (f *Function) explain(ctx context.Context, img *image, err error) (error, bool) {
	target := ""
	if img != nil {
		target = img.target.String()
	}
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("the invocation deadline came before the conversion finished (nothing was tagged; the message goes back to the queue): %w", err), false
	case registry.IsTagImmutable(err):
		return fmt.Errorf("target tag %s already exists and the repository's tags are immutable; not retried: set %s to a template giving new tags (e.g. {tag}-soci-{digest}) or make the repository's tags mutable: %w", target, EnvTagTemplate, err), true
	case errors.Is(err, convert.ErrEmptyIndex):
		return fmt.Errorf("no layer of %s can be indexed, not retried: %w", imageName(img), err), true
	case errors.Is(err, convert.ErrDigestMismatch), errors.Is(err, convert.ErrSizeMismatch), errors.Is(err, convert.ErrNotLayerType):
		return fmt.Errorf("%s is corrupt, not retried: %w", imageName(img), err), true
	}
	var ae *socify.ArgError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s cannot be converted with this configuration, not retried: %w", imageName(img), err), true
	}
	var le *convert.LayerError
	if errors.As(err, &le) && !transient(err) {
		// The layer's bytes arrived and are not a layer the builder can read: another read gives
		// the same bytes (the registry verified their digest on push).
		return fmt.Errorf("%s: layer %s cannot be indexed, not retried: %w", imageName(img), le.Layer, err), true
	}
	return err, false
}

func imageName(img *image) string {
	if img == nil {
		return "the image"
	}
	return img.source.String()
}

// transient reports errors of the network or the registry's load, which another attempt may not
// meet.
func transient(err error) bool {
	var re *registry.RetryError
	if errors.As(err, &re) {
		return true
	}
	switch registry.KindOf(err) {
	case registry.KindThrottled, registry.KindTokenExpired:
		return true
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode == 429 || te.StatusCode >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
