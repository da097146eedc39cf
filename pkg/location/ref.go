// Package transport opens images for conversion and writes the results,
// named the way skopeo names them:
//
//	docker://REF, or a bare REF      a registry (go-containerregistry remote)
//	oci:DIR[:REF]                    an OCI layout directory
//	oci-archive:FILE[:REF]           an OCI layout in a tar file, read in place
//	docker-archive:FILE[:REF]        `docker save` output (source only)
//
// Sources yield go-containerregistry values (an image index, or a single
// image that the converter wraps); sinks take an image index. Blobs are read
// where they are: an OCI archive is indexed, never extracted, and layers
// flow from the source to the sink without temporary copies.
package location

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind is a transport name.
type Kind string

const (
	Registry      Kind = "docker"
	Layout        Kind = "oci"
	Archive       Kind = "oci-archive"
	DockerArchive Kind = "docker-archive"
)

// Reference names an image in some transport.
type Reference struct {
	Kind Kind
	// Path is the directory or file of layout and archive transports.
	Path string
	// Ref is the registry reference for Registry; for the others the image
	// within the file: an org.opencontainers.image.ref.name (oci,
	// oci-archive), a repository tag (docker-archive), or "@N" for the N-th
	// entry (0-based). Empty means the only image.
	Ref string
}

// ParseReference parses "docker://REF", "oci:DIR[:REF]",
// "oci-archive:FILE[:REF]", "docker-archive:FILE[:REF]" or a bare registry
// reference. As in skopeo, the path ends at the first colon after the
// transport name.
//
// Before a bare string falls back to a registry reference (where a typo
// would become a Docker Hub lookup), it is checked against the local file
// system: an existing file, an OCI layout directory, a path-like string
// ("./x", "/x", "x.tar") or a misspelled transport ("oci-arhive:x.tar") is
// an error that names the transport to use, found by looking at the file
// when it exists. "docker://" always means a registry.
func ParseReference(s string) (Reference, error) {
	for _, k := range []Kind{Archive, DockerArchive, Layout} {
		rest, ok := strings.CutPrefix(s, string(k)+":")
		if !ok {
			continue
		}
		path, ref, _ := strings.Cut(rest, ":")
		if path == "" {
			return Reference{}, fmt.Errorf("reference %q: %s needs a path", s, k)
		}
		r := Reference{Kind: k, Path: path, Ref: ref}
		if strings.HasPrefix(ref, "@") {
			if _, err := entryIndex(ref); err != nil {
				return Reference{}, fmt.Errorf("reference %q: %w", s, err)
			}
		}
		return r, nil
	}
	ref, explicit := strings.CutPrefix(s, "docker://")
	if ref == "" {
		return Reference{}, fmt.Errorf("reference %q: empty registry reference", s)
	}
	if scheme, rest, ok := strings.Cut(ref, "://"); ok {
		if k, ok := nearestKind(scheme); ok && !explicit {
			return Reference{}, fmt.Errorf("reference %q: unknown transport %q: did you mean %s?", s, scheme+"://", suggest(k, rest))
		}
		return Reference{}, fmt.Errorf("reference %q: unknown transport (want docker://, oci:, oci-archive: or docker-archive:)", s)
	}
	if !explicit {
		if err := notRegistry(s); err != nil {
			return Reference{}, fmt.Errorf("reference %q: %w", s, err)
		}
	}
	if _, err := name.ParseReference(ref); err != nil {
		return Reference{}, fmt.Errorf("reference %q: %w", s, err)
	}
	return Reference{Kind: Registry, Ref: ref}, nil
}

// notRegistry returns an error when s, given without a transport, names a
// local image or looks like a path or a misspelled transport rather than a
// registry reference.
func notRegistry(s string) error {
	// "C:\dir\x.tar" and "C:/x.tar" are Windows paths, not transports.
	drive := len(s) > 2 && s[1] == ':' && (s[2] == '\\' || s[2] == '/')
	if prefix, rest, ok := strings.Cut(s, ":"); ok && !drive && transportLike(prefix) {
		p, _, _ := strings.Cut(rest, ":")
		k, close := nearestKind(prefix)
		sk, what, found := sniff(p)
		switch {
		case found:
			return fmt.Errorf("unknown transport %q (%s is %s): did you mean %s?", prefix+":", p, what, suggest(sk, rest))
		case close && p != "" && (pathLike(p) || exists(p)):
			return fmt.Errorf("unknown transport %q: did you mean %s?", prefix+":", suggest(k, rest))
		}
	}
	if k, what, found := sniff(s); found {
		return fmt.Errorf("%s is %s, not a registry reference: did you mean %s?", s, what, suggest(k, s))
	}
	if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
		return fmt.Errorf("%s is a local file, not a registry reference, and not an image archive socify reads (an OCI layout tar or `docker save` output); for a registry image named like it, write docker://%s", s, s)
	}
	if pathLike(s) || drive {
		kind := Archive
		if strings.HasSuffix(s, "/") || strings.HasSuffix(s, "\\") || !strings.Contains(filepath.Base(s), ".") {
			kind = Layout
		}
		return fmt.Errorf("%s looks like a local path, not a registry reference: local images need a transport (oci-archive:FILE, docker-archive:FILE or oci:DIR); did you mean %s?", s, suggest(kind, s))
	}
	return nil
}

// suggest is the reference the user probably meant.
func suggest(k Kind, rest string) string {
	if k == Registry {
		return "docker://" + rest
	}
	return string(k) + ":" + rest
}

// transportLike: a word that can be a transport name (skopeo's are lower
// case letters, digits and dashes), unlike a host ("localhost", "reg.io")
// or a repository with a tag.
func transportLike(p string) bool {
	if p == "" || p == "docker" { // "docker:27" is the docker image
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// pathLike: a string no one would mean as a registry reference.
func pathLike(p string) bool {
	for _, pre := range []string{"/", "./", "../", "~", ".\\", "..\\"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	if p == "." || p == ".." || strings.Contains(p, "\\") {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// nearestKind is the transport whose name is within a small edit distance
// of p (adjacent transpositions count as one edit), if any.
func nearestKind(p string) (Kind, bool) {
	best, bestD := Kind(""), 3
	for _, k := range []Kind{Archive, DockerArchive, Layout, Registry} {
		d := editDistance(p, string(k))
		limit := 2
		if len(k) <= 3 {
			limit = 1 // "oci": two edits reach too many words
		}
		if d <= limit && d < bestD {
			best, bestD = k, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance of a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// sniff says which transport reads the local path p, by looking at it: a
// directory with oci-layout or index.json is an OCI layout; a tar holding
// index.json or oci-layout is an OCI archive (newer `docker save` output
// included); a tar holding manifest.json but no index.json is older
// `docker save` output. found is false for anything else, including paths
// that do not exist.
func sniff(p string) (k Kind, what string, found bool) {
	if p == "" {
		return "", "", false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", "", false
	}
	if fi.IsDir() {
		for _, n := range []string{"oci-layout", "index.json"} {
			if _, err := os.Stat(filepath.Join(p, n)); err == nil {
				return Layout, "an OCI layout directory", true
			}
		}
		return "", "", false
	}
	if !fi.Mode().IsRegular() {
		return "", "", false
	}
	ts, err := openTarStore(p)
	if err != nil {
		return "", "", false
	}
	defer ts.Close()
	_, index := ts.members["index.json"]
	_, layout := ts.members["oci-layout"]
	_, manifest := ts.members["manifest.json"]
	switch {
	case index || layout:
		return Archive, "an OCI archive", true
	case manifest:
		return DockerArchive, "`docker save` output", true
	}
	return "", "", false
}

// hint names the transport that would read r's path, for an error opening
// it, when that is another transport than r's: `docker save` output given as
// oci-archive:, an OCI archive given as docker-archive: or oci:, a layout
// directory given as an archive. It is "" otherwise.
func (r Reference) hint() string {
	k, what, found := sniff(r.Path)
	if !found || k == r.Kind {
		return ""
	}
	rest := r.Path
	if r.Ref != "" {
		rest += ":" + r.Ref
	}
	return fmt.Sprintf(" (%s is %s: did you mean %s?)", r.Path, what, suggest(k, rest))
}

// MustParseReference is ParseReference for constants in tests and examples.
func MustParseReference(s string) Reference {
	r, err := ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}

func (r Reference) String() string {
	switch r.Kind {
	case Registry:
		return "docker://" + r.Ref
	default:
		if r.Ref == "" {
			return string(r.Kind) + ":" + r.Path
		}
		return string(r.Kind) + ":" + r.Path + ":" + r.Ref
	}
}

func entryIndex(ref string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(ref, "@%d", &n); err != nil || n < 0 || fmt.Sprintf("@%d", n) != ref {
		return 0, fmt.Errorf("%q is not @N with N a non-negative number", ref)
	}
	return n, nil
}
