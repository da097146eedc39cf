package socify

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

// plan is where a conversion reads and writes.
type plan struct {
	src, dst location.Reference
	// dstGiven: the caller named a destination.
	dstGiven bool
	// srcName is the ref name an archive or layout source gives its image.
	srcName string
}

// planDestination checks the source and destination before any work: an
// empty dst with a registry source means the same repository, tag from the
// template; in place means the source layout itself.
func planDestination(srcArg, dstArg string, o *options) (*plan, error) {
	p := &plan{dstGiven: dstArg != ""}
	var err error
	if p.src, err = location.ParseReference(srcArg); err != nil {
		return nil, &ArgError{Arg: "SRC", Err: err}
	}
	if p.dstGiven {
		if p.dst, err = location.ParseReference(dstArg); err != nil {
			return nil, &ArgError{Arg: "DST", Err: err}
		}
	}
	switch {
	case o.inPlace:
		if p.src.Kind != location.Layout {
			return nil, argErrorf("in-place", "needs an oci:DIR source, not %s", p.src)
		}
		if p.dstGiven && p.dst != p.src {
			return nil, argErrorf("in-place", "writes to SRC; leave DST out or repeat SRC")
		}
		p.dst = p.src
	case !p.dstGiven && p.src.Kind == location.Registry:
		p.dst = location.Reference{Kind: location.Registry}
	case !p.dstGiven && !o.dryRun:
		return nil, argErrorf("DST", "required for an %s source (only registry sources default to their own repository)", p.src.Kind)
	}
	if p.dst.Kind == location.DockerArchive {
		return nil, argErrorf("DST", "docker-archive is supported as a source only; write oci-archive:%s instead", p.dst.Path)
	}
	if o.tagChildren && p.dst.Kind != location.Registry {
		return nil, argErrorf("tag-children", "needs a registry destination")
	}
	return p, nil
}

// registryDestination names the tag a registry result is pushed to; the tag
// may depend on the source digest.
func (p *plan) registryDestination(o *options, srcDigest v1.Hash, nopts []name.Option) (location.Reference, error) {
	vars := registry.TagVars{Digest: srcDigest}
	if p.src.Kind == location.Registry {
		srcName, err := name.ParseReference(p.src.Ref, nopts...)
		if err != nil {
			return location.Reference{}, &ArgError{Arg: "SRC", Err: err}
		}
		t, err := registry.Destination(srcName, p.dst.Ref, o.tagTemplate, vars, nopts...)
		if err != nil {
			return location.Reference{}, &ArgError{Arg: "DST", Err: err}
		}
		return location.Reference{Kind: location.Registry, Ref: t.String()}, nil
	}
	// A layout or archive source: its ref name, if any, plays the source
	// tag in the template.
	switch {
	case p.src.Ref != "" && !strings.HasPrefix(p.src.Ref, "@"):
		vars.Tag = tagOf(p.src.Ref)
	case p.srcName != "":
		vars.Tag = tagOf(p.srcName)
	}
	if explicitTag(p.dst.Ref) {
		return p.dst, nil
	}
	repo, err := name.NewRepository(strings.TrimSuffix(p.dst.Ref, "/"), nopts...)
	if err != nil {
		return location.Reference{}, &ArgError{Arg: "DST", Err: err}
	}
	tag, err := registry.ExpandTag(o.tagTemplate, vars)
	if err != nil {
		return location.Reference{}, &ArgError{Arg: "tag-template", Err: err}
	}
	return location.Reference{Kind: location.Registry, Ref: repo.Tag(tag).String()}, nil
}

// explicitTag reports whether a registry reference spells out a tag (a ':'
// in its last path segment; one before the first '/' is a port).
func explicitTag(s string) bool {
	if strings.IndexByte(s, '@') >= 0 {
		return false
	}
	return strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":")
}
