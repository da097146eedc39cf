package socify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/socify/socify/pkg/location"
)

// WriteGitHubOutput writes the step outputs action.yml exposes, one
// name=value line each, as $GITHUB_OUTPUT takes them; a dry run names what
// would be written.
func (r *Result) WriteGitHubOutput(w io.Writer) error {
	type soci struct {
		Platform  string `json:"platform"`
		Manifest  string `json:"manifest"`
		SociIndex string `json:"sociIndex"`
	}
	socis := []soci{}
	for _, p := range r.Conversion.Platforms {
		if p.SociIndex != "" {
			socis = append(socis, soci{p.Platform.String(), p.Manifest.String(), p.SociIndex.String()})
		}
	}
	ref := r.Reference
	if r.DryRun {
		ref = r.Destination
	}
	sj, err := json.Marshal(socis)
	if err != nil {
		return err
	}
	tags, err := json.Marshal(append([]string{}, r.ChildTags...))
	if err != nil {
		return err
	}
	all, err := json.Marshal(writtenTags(ref, r.ChildTags))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "digest=%s\nsource-digest=%s\nreference=%s\nsoci-indexes=%s\nchanged=%t\nalready-soci=%t\ndry-run=%t\nchild-tags=%s\ntags=%s\n",
		r.Digest, r.Conversion.Source.Digest, ref, sj, r.Changed, r.AlreadySoci, r.DryRun, tags, all)
	return err
}

// writtenTags lists the tags a run wrote (a dry run: would write) as references, for the
// action's tags output: the destination's own (registry/repo:tag, or an archive's or layout's
// ref name), then the per-platform child tags.
func writtenTags(ref string, children []string) []string {
	tags := []string{}
	if r, err := location.ParseReference(ref); err == nil {
		bare, _, _ := strings.Cut(r.Ref, "@")
		switch {
		case r.Kind == location.Registry:
			if t, err := name.NewTag(bare, name.StrictValidation); err == nil {
				tags = append(tags, t.String())
			}
		case bare != "":
			tags = append(tags, strings.TrimSuffix(ref, strings.TrimPrefix(r.Ref, bare)))
		}
	}
	return append(tags, children...)
}
