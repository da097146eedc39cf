package location

import (
	"archive/tar"
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		in      string
		want    Reference
		wantErr bool
	}{
		{in: "docker://registry.example.com/app:1", want: Reference{Kind: Registry, Ref: "registry.example.com/app:1"}},
		{in: "registry.example.com:5000/app@sha256:" + hex64, want: Reference{Kind: Registry, Ref: "registry.example.com:5000/app@sha256:" + hex64}},
		{in: "busybox", want: Reference{Kind: Registry, Ref: "busybox"}},
		{in: "oci:/tmp/layout", want: Reference{Kind: Layout, Path: "/tmp/layout"}},
		{in: "oci:/tmp/layout:v1", want: Reference{Kind: Layout, Path: "/tmp/layout", Ref: "v1"}},
		{in: "oci:dir:repo/app:tag", want: Reference{Kind: Layout, Path: "dir", Ref: "repo/app:tag"}},
		{in: "oci:dir:@2", want: Reference{Kind: Layout, Path: "dir", Ref: "@2"}},
		{in: "oci-archive:out.tar", want: Reference{Kind: Archive, Path: "out.tar"}},
		{in: "oci-archive:out.tar:latest", want: Reference{Kind: Archive, Path: "out.tar", Ref: "latest"}},
		{in: "docker-archive:save.tar:busybox:latest", want: Reference{Kind: DockerArchive, Path: "save.tar", Ref: "busybox:latest"}},
		{in: "docker-archive:save.tar:@0", want: Reference{Kind: DockerArchive, Path: "save.tar", Ref: "@0"}},
		{in: "oci:", wantErr: true},
		{in: "oci-archive::x", wantErr: true},
		{in: "oci:d:@x", wantErr: true},
		{in: "oci:d:@-1", wantErr: true},
		{in: "docker://", wantErr: true},
		{in: "containers-storage://x", wantErr: true},
		{in: "Bad Ref!", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReference(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			back, err := ParseReference(got.String())
			if err != nil || back != got {
				t.Fatalf("String() %q does not parse back: %+v %v", got.String(), back, err)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestLocalPathsAreNotRegistryReferences: a local file, a path or a
// misspelled transport must not become a Docker Hub lookup; the error names
// the transport that reads the file, found by looking into it.
func TestLocalPathsAreNotRegistryReferences(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeTar(t, "example.tar", map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`})
	writeTar(t, "save.tar", map[string]string{"manifest.json": `[]`, "repositories": `{}`})
	mustDo(t, os.MkdirAll(filepath.Join("layout", "blobs"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join("layout", "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	mustDo(t, os.WriteFile("notes", []byte("not an image"), 0o644))
	mustDo(t, os.Mkdir("alpine", 0o755)) // a plain directory does not shadow an image name

	for _, tc := range []struct {
		in   string
		want string // "" means a registry reference
	}{
		{"example.tar", "example.tar is an OCI archive, not a registry reference: did you mean oci-archive:example.tar?"},
		{"save.tar", "is `docker save` output, not a registry reference: did you mean docker-archive:save.tar?"},
		{"layout", "layout is an OCI layout directory, not a registry reference: did you mean oci:layout?"},
		{"notes", "notes is a local file, not a registry reference"},
		{"oci-arhive:example.tar", `unknown transport "oci-arhive:" (example.tar is an OCI archive): did you mean oci-archive:example.tar?`},
		{"oci-arhive:save.tar", "did you mean docker-archive:save.tar?"},
		{"oci-arhive:missing.tar", `unknown transport "oci-arhive:": did you mean oci-archive:missing.tar?`},
		{"dokcer-archive:missing.tar:app:1", "did you mean docker-archive:missing.tar:app:1?"},
		{"oic:layout", "did you mean oci:layout?"},
		{"ocidir:layout:v1", "did you mean oci:layout:v1?"},
		{"out.tar", "out.tar looks like a local path, not a registry reference: local images need a transport (oci-archive:FILE, docker-archive:FILE or oci:DIR); did you mean oci-archive:out.tar?"},
		{"./out", "did you mean oci:./out?"},
		{`C:\images\app.tar`, `did you mean oci-archive:C:\images\app.tar?`},
		{"dokcer://busybox", `unknown transport "dokcer://": did you mean docker://busybox?`},
		{"alpine", ""},
		{"busybox:latest", ""},
		{"oca:1.0", ""},
		{"docker:27", ""},
		{"localhost:5000/app:1", ""},
		{"docker://example.tar", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReference(tc.in)
			if tc.want == "" {
				if err != nil || got.Kind != Registry {
					t.Fatalf("got %+v, %v; want a registry reference", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestOpenSuggestsTransport: a file opened with the wrong transport gets the
// right one in the error.
func TestOpenSuggestsTransport(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeTar(t, "example.tar", map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`})
	writeTar(t, "save.tar", map[string]string{"manifest.json": `[]`})
	mustDo(t, os.Mkdir("layout", 0o755))
	mustDo(t, os.WriteFile(filepath.Join("layout", "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	for ref, want := range map[string]string{
		"oci-archive:save.tar":             "did you mean docker-archive:save.tar?",
		"oci:save.tar":                     "did you mean docker-archive:save.tar?",
		"docker-archive:example.tar:app:1": "did you mean oci-archive:example.tar:app:1?",
		"oci:example.tar":                  "did you mean oci-archive:example.tar?",
		"oci-archive:layout":               "did you mean oci:layout?",
	} {
		_, err := Open(context.Background(), MustParseReference(ref))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v\nwant it to contain %q", ref, err, want)
		}
	}
}

func writeTar(t *testing.T, name string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		mustDo(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(files[n]))
		mustDo(t, err)
	}
	mustDo(t, tw.Close())
	mustDo(t, os.WriteFile(name, buf.Bytes(), 0o644))
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
