package location

import (
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
