// Package socify is socify as a library: the three jobs of the CLI, each one
// function over images named the way skopeo names them (see
// location.ParseReference):
//
//	res, err := socify.Convert(ctx, "oci-archive:app.tar", "registry.example.com/app:1.0-soci")
//	rep, err := socify.Inspect(ctx, "registry.example.com/app:1.0-soci")
//	rep, err := socify.Verify(ctx, "registry.example.com/app:1.0-soci")
//
// Everything the socify CLI decides is made here: where the result goes
// (a registry source converts into its own repository, tagged by the tag
// template), the credential chain (explicit credentials, then Amazon ECR,
// then the docker configuration), resumable reads of remote layers, the
// choice of sink, and the validation of options. The CLI maps its flags to
// Options and prints the Result.
package socify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/verify"
)

// Convert converts the image src into a SOCI-enabled image written to dst.
// dst may be empty for a registry source (the same repository, tag from the
// tag template), with WithInPlace, or with WithDryRun. The result (partly
// filled) is returned with the error too, so that a caller can report what
// was done before the failure.
func Convert(ctx context.Context, src, dst string, opts ...Option) (*Result, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	p, err := planDestination(src, dst, o)
	if err != nil {
		return nil, err
	}
	if err := convert.CheckOptions(o.convert...); err != nil {
		return nil, optionError(err)
	}
	a, err := newAccess(o, p.src, p.dst)
	if err != nil {
		return nil, err
	}
	s, err := a.open(ctx, p.src, true)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	o.log.Info("source", "image", p.src.String(), "digest", s.Descriptor.Digest.String(), "mediaType", string(s.Descriptor.MediaType))
	p.srcName = refName(s)
	var (
		tag    name.Tag
		before map[v1.Hash]bool
	)
	switch {
	case p.dst.Kind == location.Registry:
		if p.dst, err = p.registryDestination(o, s.Descriptor.Digest, a.nameOptions()); err != nil {
			return nil, err
		}
		if tag, err = name.NewTag(p.dst.Ref, a.nameOptions()...); err != nil {
			return nil, &ArgError{Arg: "DST", Err: err}
		}
		// Before any layer is read: an unreachable registry or a refused
		// push fails in seconds, not after the indexing.
		if !o.dryRun {
			if err := a.client.CheckPush(ctx, tag); err != nil {
				return nil, err
			}
		}
		// What the destination has of the source is asked now, before the
		// same-pass copy uploads layers.
		if before, err = sourcePresence(ctx, a, s.Index, tag); err != nil && !o.dryRun {
			return nil, a.mapError(err, registry.OpPush, p.dst)
		}
	case p.dst.Kind != "" && p.dst.Ref == "" && !o.inPlace && p.srcName != "" && !(o.sociOrder && p.dst.Kind == location.Archive):
		// The archive or layout written keeps the source's ref name, so that
		// oci-archive:out.tar:NAME finds it as the source did.
		p.dst.Ref = p.srcName
	}

	copts := append([]convert.Option{
		convert.WithLogger(o.log),
		convert.WithImageName(p.src.String()),
		convert.WithProgress(fromConvert(o.progress)),
	}, o.convert...)
	// The sink exists before the conversion so that it takes each indexed
	// layer from the stream the indexer reads (location.NewLayerTee): the
	// source serves each layer once.
	var ds *destSink
	if !o.dryRun {
		if ds, err = openSink(ctx, o, a, p, s); err != nil {
			return nil, err
		}
		defer ds.abandon()
		tee, err := location.NewLayerTee(ctx, s, ds.sink)
		if err != nil {
			return nil, a.mapError(err, registry.OpPush, p.dst)
		}
		if tee != nil {
			defer tee.Close()
			copts = append(copts, convert.WithLayerTee(tee))
		}
	}
	idx, rep, err := convert.Convert(ctx, s.Index, copts...)
	res := &Result{Source: p.src.String(), DryRun: o.dryRun, Conversion: rep}
	if p.dst.Kind != "" {
		res.Destination = p.dst.String()
	}
	if err != nil {
		return res, a.mapError(err, registry.OpPull, p.src)
	}
	res.Digest = rep.Result.Digest.String()
	res.AlreadySoci = rep.Result.Digest == rep.Source.Digest
	if p.dst.Kind == location.Registry {
		w, changed, err := registryWrite(ctx, a, idx, tag, before)
		if err != nil && !o.dryRun {
			return res, a.mapError(err, registry.OpPush, p.dst)
		}
		res.Write, res.Changed = w, changed
	}
	if o.dryRun {
		return res, nil
	}
	if err := write(ctx, o, a, p, ds, idx, res); err != nil {
		return res, err
	}
	return res, nil
}

// destSink is the destination of a conversion and its progress plumbing.
type destSink struct {
	sink    location.Sink
	dest    string
	updates chan v1.Update // registry progress, closed by go-containerregistry's Write
	done    chan struct{}
	written bool
}

// abandon ends the progress relay when Write never ran.
func (d *destSink) abandon() {
	if d.updates != nil && !d.written {
		close(d.updates)
		<-d.done
	}
}

func openSink(ctx context.Context, o *options, a *access, p *plan, s *location.Source) (*destSink, error) {
	dest := p.dst.String()
	if p.dst.Kind == location.Registry {
		dest = p.dst.Ref
	}
	d := &destSink{dest: dest}
	var extra []remote.Option
	if p.dst.Kind == location.Registry {
		d.updates, d.done = make(chan v1.Update, 16), make(chan struct{})
		extra = append(extra, remote.WithProgress(d.updates))
		go func() {
			defer close(d.done)
			for u := range d.updates {
				o.progress(Event{Kind: EventWriteProgress, Destination: dest, Total: u.Total, Complete: u.Complete})
			}
		}()
	}
	lopts := a.locationOptions(ctx, extra...)
	if p.dst.Kind != location.Registry {
		lopts = append(lopts, location.WithProgress(func(pr location.Progress) {
			o.progress(Event{Kind: EventWriteProgress, Destination: dest, Total: pr.Total, Complete: pr.Complete})
		}))
	}
	var err error
	if o.inPlace {
		d.sink, err = s.InPlaceSink(lopts...)
	} else {
		d.sink, err = location.NewSink(p.dst, lopts...)
	}
	if err != nil {
		d.abandon()
		return nil, err
	}
	return d, nil
}

// write stores the result, then tags the children.
func write(ctx context.Context, o *options, a *access, p *plan, d *destSink, idx v1.ImageIndex, res *Result) error {
	dest := d.dest
	o.progress(Event{Kind: EventWriteStart, Destination: dest, Registry: p.dst.Kind == location.Registry})
	wr, err := d.sink.Write(ctx, idx)
	if d.updates != nil {
		d.written = true
		<-d.done
	}
	if err != nil {
		err = a.mapError(err, registry.OpPush, p.dst)
		o.progress(Event{Kind: EventWriteDone, Destination: dest, Err: err})
		return err
	}
	o.progress(Event{Kind: EventWriteDone, Destination: dest})
	res.Reference = wr.Reference
	if p.dst.Kind == location.Registry {
		// Counted around the push (registryWrite): the sink's own counts do
		// not see the layers the conversion copied.
		res.Write.Warnings = wr.Warnings
	} else {
		res.Write = &WriteReport{
			BlobsWritten: wr.BlobsWritten, BlobsLinked: wr.BlobsLinked, BlobsExisting: wr.BlobsExisting,
			BytesWritten: wr.BytesWritten, Warnings: wr.Warnings,
		}
		res.Changed = wr.BlobsWritten > 0 || wr.BlobsLinked > 0 || wr.BytesWritten > 0
	}
	for _, w := range wr.Warnings {
		o.log.Warn(w)
	}
	if o.tagChildren {
		tags, err := tagChildren(ctx, a, p.dst, idx, res.Conversion)
		res.ChildTags = tags
		if err != nil {
			return a.mapError(err, registry.OpPush, p.dst)
		}
	}
	return nil
}

// tagChildren tags each converted per-platform manifest of the result.
func tagChildren(ctx context.Context, a *access, dst location.Reference, idx v1.ImageIndex, rep *convert.Report) ([]string, error) {
	ref, err := name.NewTag(dst.Ref, a.nameOptions()...)
	if err != nil {
		return nil, err
	}
	var platforms []v1.Platform
	var manifests []v1.Hash
	for _, p := range rep.Platforms {
		if p.SociIndex == "" || p.Manifest == "" {
			continue
		}
		// The one parser's rules (normalized, os and arch named, valid
		// components) decide what can form a tag. An image whose config
		// names no os/arch has no platform to put in a tag; the index is
		// pushed already, so that manifest goes untagged with a warning
		// rather than failing a conversion that has succeeded.
		pl, err := ociindex.CheckPlatform(p.Platform)
		if err != nil {
			a.o.log.Warn("manifest not tagged: its platform cannot form a tag", "manifest", p.Manifest.String(), "platform", p.Platform.String(), "err", err)
			continue
		}
		h, err := v1.NewHash(p.Manifest.String())
		if err != nil {
			return nil, err
		}
		platforms = append(platforms, pl)
		manifests = append(manifests, h)
	}
	tags, err := registry.ChildTags(ref.TagStr(), platforms)
	if err != nil {
		return nil, err
	}
	ro := a.remoteOptions(ctx)
	var done []string
	for i, t := range tags {
		img, err := findImage(idx, manifests[i])
		if err != nil {
			return done, err
		}
		tr := ref.Context().Tag(t)
		if err := remote.Tag(tr, img, ro...); err != nil {
			return done, fmt.Errorf("tagging %s: %w", tr, err)
		}
		done = append(done, tr.String())
	}
	return done, nil
}

// findImage finds the manifest h in idx or an index nested in it.
func findImage(idx v1.ImageIndex, h v1.Hash) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		switch {
		case d.Digest == h:
			return idx.Image(h)
		case d.MediaType.IsIndex():
			sub, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := findImage(sub, h); err == nil {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("manifest %s is not in the result", h)
}

// Inspect describes the SOCI state of the image src without reading layer
// data (see verify.Inspect).
func Inspect(ctx context.Context, src string, opts ...Option) (*verify.InspectReport, error) {
	var rep *verify.InspectReport
	err := check(ctx, src, opts, func(idx v1.ImageIndex, vopts []verify.Option) (err error) {
		rep, err = verify.Inspect(ctx, idx, vopts...)
		if err := checkError(err); err != nil {
			return err
		}
		if err != nil {
			return fmt.Errorf("inspecting %s: %w", src, err)
		}
		return nil
	})
	return rep, err
}

// Verify checks that the SOCI snapshotter will lazily load the image src
// (see verify.Verify). Problems with the image are in the report, not the
// error: test VerifyReport.OK.
func Verify(ctx context.Context, src string, opts ...Option) (*verify.VerifyReport, error) {
	var rep *verify.VerifyReport
	err := check(ctx, src, opts, func(idx v1.ImageIndex, vopts []verify.Option) (err error) {
		rep, err = verify.Verify(ctx, idx, vopts...)
		if err := checkError(err); err != nil {
			return err
		}
		if err != nil {
			return fmt.Errorf("verifying %s: %w", src, err)
		}
		return nil
	})
	return rep, err
}

// checkError makes the option errors of verify argument errors; nil for
// any other error.
func checkError(err error) error {
	switch {
	case errors.Is(err, verify.ErrInvalidOption):
		return optionError(err)
	case errors.Is(err, verify.ErrPlatformNotFound):
		return &ArgError{Arg: "platform", Err: err, msg: strings.TrimPrefix(err.Error(), verify.ErrPlatformNotFound.Error()+": ")}
	}
	return nil
}

func check(ctx context.Context, src string, opts []Option, run func(v1.ImageIndex, []verify.Option) error) error {
	o, err := makeOptions(opts)
	if err != nil {
		return err
	}
	ref, err := location.ParseReference(src)
	if err != nil {
		return &ArgError{Arg: "REF", Err: err}
	}
	a, err := newAccess(o, ref)
	if err != nil {
		return err
	}
	s, err := a.open(ctx, ref, false)
	if err != nil {
		return err
	}
	defer s.Close()
	vopts := o.verify
	if ref.Kind == location.Registry {
		// The snapshotter fetches a SOCI index by digest from the image's
		// repository, so an index the image index does not list still counts.
		r, err := name.ParseReference(ref.Ref, a.nameOptions()...)
		if err != nil {
			return &ArgError{Arg: "REF", Err: err}
		}
		ro := a.remoteOptions(ctx)
		vopts = append(vopts, verify.WithManifestFetcher(func(ctx context.Context, h v1.Hash) (v1.Image, error) {
			return remote.Image(r.Context().Digest(h.String()), append(ro, remote.WithContext(ctx))...)
		}))
	}
	if s.Wrapped {
		// A lone manifest: checked as what it is, wrapped only to give
		// verify its one input type.
		vopts = append(vopts, verify.WithWrapped(true))
	}
	return run(s.Index, vopts)
}
