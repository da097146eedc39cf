package socify

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/socify/socify/internal/notfound"
	"github.com/socify/socify/internal/textout"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

// AccessReport says which credentials serve a repository and whether pull
// and push work.
type AccessReport struct {
	Reference string `json:"reference"`
	Registry  string `json:"registry"`
	// Credentials names the link of the chain that served (explicit, ecr,
	// docker, anonymous), Detail describes them without revealing them.
	Credentials string        `json:"credentials"`
	Detail      string        `json:"detail"`
	Skipped     []string      `json:"skipped,omitempty"`
	Pull        AccessResult  `json:"pull"`
	Push        *AccessResult `json:"push,omitempty"`

	pullErr, pushErr error
}

// WriteText writes the report for a person: the credentials, then one line
// per check, with the registry's hint when one failed.
func (r *AccessReport) WriteText(w io.Writer) error {
	t := &textout.Writer{W: w}
	t.Printf("registry     %s\n", r.Registry)
	t.Printf("credentials  %s: %s\n", r.Credentials, r.Detail)
	for _, sk := range r.Skipped {
		t.Printf("             (skipped %s)\n", sk)
	}
	line := func(what string, a *AccessResult) {
		switch {
		case a.OK && a.Message != "":
			t.Printf("%-12s ok (%s)\n", what, a.Message)
		case a.OK:
			t.Printf("%-12s ok\n", what)
		default:
			t.Printf("%-12s FAILED: %s\n", what, a.Message)
			if a.Hint != "" {
				t.Printf("%-12s hint: %s\n", "", a.Hint)
			}
		}
	}
	line("pull", &r.Pull)
	if r.Push != nil {
		line("push", r.Push)
	}
	return t.Err
}

// AccessResult is the outcome of one access check.
type AccessResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// Err is the first failed check's error (nil when every check passed), for
// errors.As with *registry.Error.
func (r *AccessReport) Err() error {
	if r.pullErr != nil {
		return r.pullErr
	}
	return r.pushErr
}

func resultOf(err error) AccessResult {
	if err == nil {
		return AccessResult{OK: true}
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return AccessResult{Message: re.Message, Hint: re.Hint}
	}
	return AccessResult{Message: err.Error()}
}

// CheckAccess resolves the credentials for ref's registry with the default
// chain, says where they came from, then tries a pull (HEAD of the manifest)
// and, unless pullOnly, a push (opens a blob upload and cancels it: nothing
// is written). A missing image is no access problem. The error is for what
// stops the check itself (a bad reference, unresolvable credentials).
func CheckAccess(ctx context.Context, refArg string, pullOnly bool, opts ...Option) (*AccessReport, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	tref, err := location.ParseReference(refArg)
	if err != nil {
		return nil, &ArgError{Arg: "REF", Err: err}
	}
	if tref.Kind != location.Registry {
		return nil, argErrorf("REF", "must name a registry image, not %s", tref)
	}
	a, err := newAccess(o, tref)
	if err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(tref.Ref, a.nameOptions()...)
	if err != nil {
		return nil, &ArgError{Arg: "REF", Err: err}
	}
	m, err := a.client.Explain(ctx, ref.Context())
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", ref.Context().RegistryStr(), err)
	}
	rep := &AccessReport{Reference: ref.String(), Registry: ref.Context().RegistryStr(),
		Credentials: string(m.Source), Detail: m.Detail, Skipped: m.Skipped}
	res := a.client.CheckAccess(ctx, ref)
	if notfound.Is(res.Pull) {
		// The registry accepted the credentials and looked: the image just
		// does not exist (yet).
		msg := ref.String() + " does not exist"
		var re *registry.Error
		if errors.As(res.Pull, &re) && re.Message != "" {
			msg = re.Message
		}
		rep.Pull = AccessResult{OK: true, Message: "credentials accepted; " + msg}
	} else {
		rep.Pull, rep.pullErr = resultOf(res.Pull), res.Pull
	}
	if !pullOnly {
		r := resultOf(res.Push)
		rep.Push, rep.pushErr = &r, res.Push
	}
	return rep, nil
}
