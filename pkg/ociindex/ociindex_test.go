package ociindex

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestEmptyConfigDigest(t *testing.T) {
	if got := digest.FromBytes(EmptyConfig()); got != EmptyConfigDigest {
		t.Fatalf("digest of {} = %s, constant says %s", got, EmptyConfigDigest)
	}
}

func TestNewSociIndex(t *testing.T) {
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("layer")}
	z := digest.FromString("ztoc")
	tests := []struct {
		name    string
		ztocs   []ocispec.Descriptor
		tool    string
		want    string
		wantErr error
	}{
		{
			name:  "spec example with disable-xattrs",
			ztocs: []ocispec.Descriptor{ZtocDescriptor(z, 12345, layer, 4194304, true)},
			tool:  "AWS SOCI CLI v0.2",
			want:  `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"` + z.String() + `","size":12345,"annotations":{"com.amazon.soci.disable-xattrs":"true","com.amazon.soci.image-layer-digest":"` + layer.Digest.String() + `","com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","com.amazon.soci.span-size":"4194304"}}],"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`,
		},
		{
			name:  "go html escaping of the identifier",
			ztocs: []ocispec.Descriptor{ZtocDescriptor(z, 1, layer, 65536, false)},
			tool:  "a&b <c>",
			want:  `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"` + z.String() + `","size":1,"annotations":{"com.amazon.soci.image-layer-digest":"` + layer.Digest.String() + `","com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","com.amazon.soci.span-size":"65536"}}],"annotations":{"com.amazon.soci.build-tool-identifier":"a\u0026b \u003cc\u003e"}}`,
		},
		{name: "no ztocs", tool: "x", wantErr: ErrEmptyIndex},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewSociIndex(tc.ztocs, tc.tool)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b.Bytes) != tc.want {
				t.Fatalf("got  %s\nwant %s", b.Bytes, tc.want)
			}
			want := ocispec.Descriptor{
				MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactTypeSociIndexV2,
				Digest: digest.FromString(tc.want), Size: int64(len(tc.want)),
			}
			if !reflect.DeepEqual(b.Descriptor, want) {
				t.Fatalf("descriptor %+v, want %+v", b.Descriptor, want)
			}
			m, err := ParseSociIndex(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if re, _ := Marshal(m); string(re) != tc.want {
				t.Fatalf("re-encoding (what the snapshotter does) changed the bytes:\n%s", re)
			}
		})
	}
}

func TestParseSociIndex(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"v2", `{"schemaVersion":2,"config":{"mediaType":"application/vnd.amazon.soci.index.v2+json"}}`, true},
		{"v1", `{"schemaVersion":2,"config":{"mediaType":"application/vnd.amazon.soci.index.v1+json"}}`, true},
		{"image config", `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}`, false},
		{"garbage", `{`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSociIndex([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRewriteManifest(t *testing.T) {
	si := digest.FromString("soci")
	tests := []struct {
		name, mediaType, in string
		soci                digest.Digest
		want                string
		wantAnnotations     map[string]string
		wantErr             string
	}{
		{
			name:      "docker manifest becomes OCI, layer types kept, whitespace dropped",
			mediaType: MediaTypeDockerManifest,
			in: `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 3, "digest": "sha256:aa"},
   "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 5, "digest": "sha256:bb"}]
}`,
			soci:            si,
			want:            `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":3},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:bb","size":5}],"annotations":{"com.amazon.soci.index-digest":"` + si.String() + `"}}`,
			wantAnnotations: map[string]string{AnnotationIndexDigest: si.String()},
		},
		{
			name:            "not converted: re-encoded, no annotation, unknown fields dropped",
			mediaType:       ocispec.MediaTypeImageManifest,
			in:              `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","foo":1,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":3},"layers":[],"annotations":{"a":"b"}}`,
			want:            `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":3},"layers":[],"annotations":{"a":"b"}}`,
			wantAnnotations: map[string]string{"a": "b"},
		},
		{
			name:            "existing index-digest is replaced",
			mediaType:       ocispec.MediaTypeImageManifest,
			in:              `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":3},"layers":[],"annotations":{"com.amazon.soci.index-digest":"sha256:old"}}`,
			soci:            si,
			want:            `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":3},"layers":[],"annotations":{"com.amazon.soci.index-digest":"` + si.String() + `"}}`,
			wantAnnotations: map[string]string{AnnotationIndexDigest: si.String()},
		},
		{
			name:      "artifact config type is left alone (soci would overwrite it)",
			mediaType: ocispec.MediaTypeImageManifest,
			in:        `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:aa","size":2},"layers":[]}`,
			want:      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:aa","size":2},"layers":[]}`,
		},
		{name: "index given as manifest", mediaType: ocispec.MediaTypeImageManifest, in: `{"schemaVersion":2,"manifests":[{}]}`, wantErr: "expected a manifest"},
		{name: "schema 1", mediaType: MediaTypeDockerManifest, in: `{"schemaVersion":1,"fsLayers":[{}]}`, wantErr: "schema 1"},
		{name: "bad json", mediaType: MediaTypeDockerManifest, in: `{`, wantErr: "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, err := RewriteManifest([]byte(tc.in), tc.mediaType, tc.soci)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b.Bytes) != tc.want {
				t.Fatalf("got  %s\nwant %s", b.Bytes, tc.want)
			}
			if b.Descriptor.MediaType != ocispec.MediaTypeImageManifest || b.Descriptor.Digest != digest.FromString(tc.want) {
				t.Fatalf("descriptor %+v", b.Descriptor)
			}
			if !maps.Equal(b.Descriptor.Annotations, tc.wantAnnotations) {
				t.Fatalf("annotations %v, want %v", b.Descriptor.Annotations, tc.wantAnnotations)
			}
		})
	}
}

func TestParseIndexValidates(t *testing.T) {
	tests := []struct {
		name, mt, in string
		ok           bool
	}{
		{"oci index", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[]}`, true},
		{"docker list", MediaTypeDockerManifestList, `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`, true},
		{"manifest given as index", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"config":{},"layers":[]}`, false},
		{"body says manifest", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIndex([]byte(tc.in), tc.mt)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func d(s string) digest.Digest { return digest.FromString(s) }

func desc(mt, name string, p *ocispec.Platform, a map[string]string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: d(name), Size: int64(len(name)), Platform: p, Annotations: a}
}

func sociDesc(name string, p ocispec.Platform, manifest string) ocispec.Descriptor {
	x := desc(ocispec.MediaTypeImageManifest, name, &p, map[string]string{AnnotationImageManifestDigest: d(manifest).String()})
	x.ArtifactType = ArtifactTypeSociIndexV2
	return x
}

func upd(name string, a map[string]string) ChildUpdate {
	return ChildUpdate{Digest: d(name), Size: int64(len(name)), MediaType: ocispec.MediaTypeImageManifest, Annotations: a}
}

func TestConvertIndex(t *testing.T) {
	unknown := ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	ann := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	soci := func(name string, p ocispec.Platform, src string) SociEntry {
		return SociEntry{
			Index:          ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactTypeSociIndexV2, Digest: d(name), Size: int64(len(name))},
			Platform:       p,
			SourceManifest: d(src),
		}
	}
	tests := []struct {
		name    string
		src     ocispec.Index
		updates map[digest.Digest]ChildUpdate
		socis   []SociEntry
		want    []ocispec.Descriptor
		wantErr bool
	}{
		{
			name: "docker list: descriptors rewritten, annotations replaced, SOCI appended in given order",
			src: ocispec.Index{MediaType: MediaTypeDockerManifestList, Manifests: []ocispec.Descriptor{
				desc(MediaTypeDockerManifest, "m1", &amd64, ann("x", "y")),
				desc(MediaTypeDockerManifest, "m2", &arm64, nil),
			}},
			updates: map[digest.Digest]ChildUpdate{
				d("m1"): upd("m1'", ann(AnnotationIndexDigest, d("s1").String())),
				d("m2"): upd("m2'", ann(AnnotationIndexDigest, d("s2").String())),
			},
			socis: []SociEntry{soci("s2", arm64, "m2"), soci("s1", amd64, "m1")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, ann(AnnotationIndexDigest, d("s1").String())),
				desc(ocispec.MediaTypeImageManifest, "m2'", &arm64, ann(AnnotationIndexDigest, d("s2").String())),
				sociDesc("s2", arm64, "m2'"),
				sociDesc("s1", amd64, "m1'"),
			},
		},
		{
			name: "attestation keeps vnd.docker.reference.* and follows the image",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1", &amd64, nil),
				desc(ocispec.MediaTypeImageManifest, "att", &unknown, ann(AnnotationDockerReferenceDigest, d("m1").String(), AnnotationDockerReferenceType, "attestation-manifest")),
			}},
			updates: map[digest.Digest]ChildUpdate{
				d("m1"):  upd("m1'", ann(AnnotationIndexDigest, d("s1").String())),
				d("att"): upd("att", nil),
			},
			socis: []SociEntry{soci("s1", amd64, "m1")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, ann(AnnotationIndexDigest, d("s1").String())),
				desc(ocispec.MediaTypeImageManifest, "att", &unknown, ann(AnnotationDockerReferenceDigest, d("m1'").String(), AnnotationDockerReferenceType, "attestation-manifest")),
				sociDesc("s1", amd64, "m1'"),
			},
		},
		{
			name: "unloadable child kept as is, its reference still followed",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1", &amd64, nil),
				desc(MediaTypeDockerManifest, "att", &unknown, ann(AnnotationDockerReferenceDigest, d("m1").String())),
			}},
			updates: map[digest.Digest]ChildUpdate{d("m1"): upd("m1'", nil)},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, nil),
				desc(MediaTypeDockerManifest, "att", &unknown, ann(AnnotationDockerReferenceDigest, d("m1'").String())),
			},
		},
		{
			name: "re-conversion replaces the SOCI descriptor of the same manifest in place",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, ann(AnnotationIndexDigest, d("s1").String())),
				sociDesc("s1", amd64, "m1'"),
				desc(ocispec.MediaTypeImageManifest, "tail", &arm64, nil),
			}},
			updates: map[digest.Digest]ChildUpdate{
				d("m1'"):  upd("m1''", ann(AnnotationIndexDigest, d("s1b").String())),
				d("tail"): upd("tail", nil),
			},
			socis: []SociEntry{soci("s1b", amd64, "m1'")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1''", &amd64, ann(AnnotationIndexDigest, d("s1b").String())),
				sociDesc("s1b", amd64, "m1''"),
				desc(ocispec.MediaTypeImageManifest, "tail", &arm64, nil),
			},
		},
		{
			name: "fewer platforms: the other platform's SOCI descriptor is untouched",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, ann(AnnotationIndexDigest, d("s1").String())),
				desc(ocispec.MediaTypeImageManifest, "m2'", &arm64, ann(AnnotationIndexDigest, d("s2").String())),
				sociDesc("s1", amd64, "m1'"),
				sociDesc("s2", arm64, "m2'"),
			}},
			updates: map[digest.Digest]ChildUpdate{
				d("m1'"): upd("m1'", ann(AnnotationIndexDigest, d("s1").String())),
				d("m2'"): upd("m2'", ann(AnnotationIndexDigest, d("s2").String())),
			},
			socis: []SociEntry{soci("s1", amd64, "m1'")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, ann(AnnotationIndexDigest, d("s1").String())),
				desc(ocispec.MediaTypeImageManifest, "m2'", &arm64, ann(AnnotationIndexDigest, d("s2").String())),
				sociDesc("s1", amd64, "m1'"),
				sociDesc("s2", arm64, "m2'"),
			},
		},
		{
			name: "stale SOCI descriptor of the same platform is replaced; v1 entries are left alone",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1", &amd64, nil),
				sociDesc("old", amd64, "gone"),
				func() ocispec.Descriptor {
					x := sociDesc("v1", amd64, "gone")
					x.ArtifactType = ArtifactTypeSociIndexV1
					return x
				}(),
			}},
			updates: map[digest.Digest]ChildUpdate{d("m1"): upd("m1'", nil)},
			socis:   []SociEntry{soci("s1", amd64, "m1")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, nil),
				sociDesc("s1", amd64, "m1'"),
				func() ocispec.Descriptor {
					x := sociDesc("v1", amd64, "gone")
					x.ArtifactType = ArtifactTypeSociIndexV1
					return x
				}(),
			},
		},
		{
			name: "a SOCI descriptor of another platform whose manifest exists is not taken over",
			src: ocispec.Index{Manifests: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1", &amd64, nil),
				desc(ocispec.MediaTypeImageManifest, "m2", &amd64, nil),
				sociDesc("s2", amd64, "m2"),
			}},
			updates: map[digest.Digest]ChildUpdate{d("m1"): upd("m1'", nil)},
			socis:   []SociEntry{soci("s1", amd64, "m1")},
			want: []ocispec.Descriptor{
				desc(ocispec.MediaTypeImageManifest, "m1'", &amd64, nil),
				desc(ocispec.MediaTypeImageManifest, "m2", &amd64, nil),
				sociDesc("s2", amd64, "m2"),
				sociDesc("s1", amd64, "m1'"),
			},
		},
		{
			name:    "SOCI entry for a manifest without update",
			src:     ocispec.Index{Manifests: []ocispec.Descriptor{desc(ocispec.MediaTypeImageManifest, "m1", &amd64, nil)}},
			socis:   []SociEntry{soci("s1", amd64, "m1")},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.SchemaVersion = 2
			before := cloneIndexForTest(tc.src)
			b, got, err := ConvertIndex(tc.src, tc.updates, tc.socis)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.src, before) {
				t.Fatal("ConvertIndex modified its input")
			}
			if got.MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("media type %q", got.MediaType)
			}
			if len(got.Manifests) != len(tc.want) {
				t.Fatalf("got %d descriptors, want %d:\n%s", len(got.Manifests), len(tc.want), b.Bytes)
			}
			for i := range tc.want {
				if !reflect.DeepEqual(got.Manifests[i], tc.want[i]) {
					t.Errorf("descriptor %d:\n got %+v\nwant %+v", i, got.Manifests[i], tc.want[i])
				}
			}
			if re, _ := Marshal(got); string(re) != string(b.Bytes) || b.Descriptor.Digest != digest.FromBytes(b.Bytes) {
				t.Fatal("blob does not match the returned index")
			}
		})
	}
}

func TestConvertIndexKeepsIndexFields(t *testing.T) {
	subject := desc(ocispec.MediaTypeImageManifest, "subj", nil, nil)
	src := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: MediaTypeDockerManifestList,
		ArtifactType: "application/x", Subject: &subject, Annotations: map[string]string{"k": "v"},
	}
	b, _, err := ConvertIndex(src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x","manifests":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d("subj").String() + `","size":4},"annotations":{"k":"v"}}`
	if string(b.Bytes) != want {
		t.Fatalf("got  %s\nwant %s", b.Bytes, want)
	}
}

func TestLayoutIndex(t *testing.T) {
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d("i"), Size: 9, Annotations: map[string]string{"x": "y"}, Platform: &amd64}
	for _, tc := range []struct{ ref, want string }{
		{"", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + d("i").String() + `","size":9}]}`},
		{"v1", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + d("i").String() + `","size":9,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`},
	} {
		b, err := Marshal(LayoutIndex(img, tc.ref))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Fatalf("ref %q:\n got %s\nwant %s", tc.ref, b, tc.want)
		}
	}
}

func cloneIndexForTest(i ocispec.Index) ocispec.Index {
	i.Annotations = maps.Clone(i.Annotations)
	i.Manifests = slices.Clone(i.Manifests)
	for k := range i.Manifests {
		i.Manifests[k].Annotations = maps.Clone(i.Manifests[k].Annotations)
		if p := i.Manifests[k].Platform; p != nil {
			c := *p
			i.Manifests[k].Platform = &c
		}
	}
	return i
}
