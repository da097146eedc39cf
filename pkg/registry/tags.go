package registry

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	// DefaultTagTemplate names the converted image when the destination gives no tag.
	DefaultTagTemplate = "{tag}-soci"
	// ChildTagTemplate names the per-platform manifests tagged with --tag-children: ECR lifecycle
	// rules and Inspector scanning only act on tagged manifests.
	ChildTagTemplate = "{tag}-{platform}"
)

// TagVars are the values a tag template can use.
type TagVars struct {
	// Tag is the source tag; empty when the source was named by digest.
	Tag string
	// Digest is the source manifest or index digest; {digest} renders it as "sha256-<hex>" because
	// a tag cannot hold ':'.
	Digest v1.Hash
	// Platform is the platform of a per-platform manifest; nil for the image as a whole.
	Platform *v1.Platform
}

// tagRE is the OCI distribution-spec rule for tags.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ExpandTag fills a tag template. Placeholders: {tag}, {digest} ("sha256-<hex>"), {platform}
// ("os-arch" or "os-arch-variant"), {os}, {arch}, {variant}. The result must be a valid tag (at most
// 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-').
func ExpandTag(tmpl string, vars TagVars) (string, error) {
	if tmpl == "" {
		return "", errors.New("empty tag template")
	}
	var b strings.Builder
	rest := tmpl
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		if rest[i] == '}' {
			return "", fmt.Errorf("tag template %q: unmatched '}'", tmpl)
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("tag template %q: unclosed '{'", tmpl)
		}
		key := rest[i+1 : i+j]
		v, err := placeholder(key, vars)
		if err != nil {
			return "", fmt.Errorf("tag template %q: %w", tmpl, err)
		}
		b.WriteString(v)
		rest = rest[i+j+1:]
	}
	tag := b.String()
	if !tagRE.MatchString(tag) {
		return "", fmt.Errorf("tag template %q gives %q, which is not a valid tag (at most 128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-')", tmpl, tag)
	}
	return tag, nil
}

func placeholder(key string, v TagVars) (string, error) {
	needPlatform := func() error {
		if v.Platform == nil {
			return fmt.Errorf("{%s} is only available for per-platform tags", key)
		}
		return nil
	}
	switch key {
	case "tag":
		if v.Tag == "" {
			return "", errors.New("{tag}: the source was named by digest and has no tag; use {digest} or give the destination a tag")
		}
		return v.Tag, nil
	case "digest":
		if v.Digest.Hex == "" {
			return "", errors.New("{digest}: the source digest is not known")
		}
		return v.Digest.Algorithm + "-" + v.Digest.Hex, nil
	case "platform":
		if err := needPlatform(); err != nil {
			return "", err
		}
		return platformTag(*v.Platform), nil
	case "os":
		if err := needPlatform(); err != nil {
			return "", err
		}
		return tagSafe(v.Platform.OS), nil
	case "arch":
		if err := needPlatform(); err != nil {
			return "", err
		}
		return tagSafe(v.Platform.Architecture), nil
	case "variant":
		if err := needPlatform(); err != nil {
			return "", err
		}
		return tagSafe(v.Platform.Variant), nil
	}
	return "", fmt.Errorf("unknown placeholder {%s} (known: {tag}, {digest}, {platform}, {os}, {arch}, {variant})", key)
}

// platformTag keeps the variant so that linux/arm/v6 and linux/arm/v7 do not collide.
func platformTag(p v1.Platform) string {
	s := tagSafe(p.OS) + "-" + tagSafe(p.Architecture)
	if p.Variant != "" {
		s += "-" + tagSafe(p.Variant)
	}
	return s
}

func tagSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}

// ChildTags names the per-platform manifests of an image tagged tag, with ChildTagTemplate
// ({tag}-{os}-{arch}[-{variant}]). Two platforms that would get the same tag (differing only in OS
// version or features) are an error rather than one tag silently moving.
func ChildTags(tag string, platforms []v1.Platform) ([]string, error) {
	out := make([]string, len(platforms))
	seen := map[string]int{}
	for i := range platforms {
		t, err := ExpandTag(ChildTagTemplate, TagVars{Tag: tag, Platform: &platforms[i]})
		if err != nil {
			return nil, err
		}
		if j, dup := seen[t]; dup {
			return nil, fmt.Errorf("platforms %s and %s would both be tagged %q", platforms[j].String(), platforms[i].String(), t)
		}
		seen[t] = i
		out[i] = t
	}
	return out, nil
}

// Destination decides where a converted image goes.
//
// dst is empty (same repository as src), a repository without a tag ("registry/repo"), or a tag
// ("registry/repo:tag"); a digest is refused. When dst names no tag, the tag comes from tmpl
// (DefaultTagTemplate when empty) with vars; vars.Tag defaults to src's tag. A derived tag that
// would land on src itself is refused: socify only overwrites the source tag when dst names it
// explicitly.
func Destination(src name.Reference, dst, tmpl string, vars TagVars, opts ...name.Option) (name.Tag, error) {
	if tmpl == "" {
		tmpl = DefaultTagTemplate
	}
	if vars.Tag == "" {
		// An untagged source means :latest, as for docker pull.
		if t, ok := src.(name.Tag); ok {
			vars.Tag = t.TagStr()
		}
	}
	if dst != "" {
		if strings.Contains(dst, "@") {
			return name.Tag{}, fmt.Errorf("destination %q: must be a tag or a repository, not a digest", dst)
		}
		if explicitTag(dst) {
			t, err := name.NewTag(dst, opts...)
			if err != nil {
				return name.Tag{}, fmt.Errorf("destination %q: %w", dst, err)
			}
			return t, nil
		}
	}
	repo := src.Context()
	if dst != "" {
		r, err := name.NewRepository(dst, opts...)
		if err != nil {
			return name.Tag{}, fmt.Errorf("destination %q: %w", dst, err)
		}
		repo = r
	}
	tag, err := ExpandTag(tmpl, vars)
	if err != nil {
		return name.Tag{}, err
	}
	t := repo.Tag(tag)
	if st, ok := src.(name.Tag); ok && st.Context().Name() == t.Context().Name() && st.TagStr() == t.TagStr() {
		return name.Tag{}, fmt.Errorf("the tag template %q would overwrite the source tag %s; give the destination tag explicitly if that is what you want", tmpl, st)
	}
	return t, nil
}

// explicitTag reports whether a reference string spells out a tag: a ':' in its last path
// segment (a ':' before the first '/' is a registry port).
func explicitTag(s string) bool {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	last := s[strings.LastIndexByte(s, '/')+1:]
	return strings.Contains(last, ":")
}
