package socify_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/socify"
	"github.com/socify/socify/pkg/ztoc"
)

// Converting an image in Amazon ECR into another repository. The
// credentials come from the default chain: Amazon ECR tokens from the AWS
// credentials of the profile "ci" (environment, SSO, web identity, instance
// role...), renewed during long conversions. The layers are read once, and
// a broken download resumes where it stopped.
func ExampleConvert_registryToRegistry() {
	ctx := context.Background()
	res, err := socify.Convert(ctx,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/app-soci", // tagged 1.0-soci by the template
		socify.WithDefaultKeychain(ecr.WithProfile("ci")),
		socify.WithTagTemplate("{tag}-soci"),
		socify.WithTagChildren(true),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Reference, res.ChildTags)
}

// Converting an OCI layout directory into an OCI archive. With soci's
// identifier and the same options, the bytes are those soci v0.16.1 writes.
func ExampleConvert_layoutToArchive() {
	dir, err := os.MkdirTemp("", "socify-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	res, err := socify.Convert(context.Background(), "oci:testdata/layout", "oci-archive:"+filepath.Join(dir, "app-soci.tar"),
		socify.WithConvertOptions(
			convert.WithMinLayerSize(0), // the example's layers are tiny
			convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier),
		))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range res.Conversion.Platforms {
		fmt.Println(p.Platform, "SOCI index", p.SociIndex)
	}
	for _, l := range res.Conversion.Layers {
		fmt.Println("layer", l.Digest.Hex[:12], l.Status, l.Files, "files")
	}
	fmt.Println("result", res.Digest)

	// What the SOCI snapshotter will make of it.
	rep, err := socify.Verify(context.Background(), res.Reference)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("lazily loaded:", rep.OK())
	// Output:
	// linux/amd64 SOCI index sha256:d145a52eec61d0993897fd90a16eecafa35d3e44f3691f0a08d83f79f50d4f76
	// layer 938c9510582a indexed 4 files
	// layer 2cf5cdffcc79 indexed 4 files
	// result sha256:bc78542214dac2ee1f046cf6a20c9ec2256574f5efcaa0f533334bfe756a6485
	// lazily loaded: true
}

// Why an image that was never converted is pulled in full.
func ExampleInspect() {
	rep, err := socify.Inspect(context.Background(), "oci:testdata/layout")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range rep.Platforms {
		fmt.Println(p.Platform, "SOCI-enabled:", p.SociEnabled)
		for _, l := range p.Layers {
			fmt.Println("layer", l.Digest.Hex[:12], l.NoZtoc)
		}
	}
	// Output:
	// linux/amd64 SOCI-enabled: false
	// layer 938c9510582a no-soci-index
	// layer 2cf5cdffcc79 no-soci-index
}
