// Command convert is the smallest program that uses socify as a library: it
// converts an image and writes the SOCI-enabled result, both named the way
// the socify CLI names them.
//
//	go run ./examples/convert oci-archive:example.tar oci-archive:example-soci.tar
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: convert SRC DST")
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, srcName, dstName string, opts ...convert.Option) error {
	srcRef, err := location.ParseReference(srcName)
	if err != nil {
		return err
	}
	dstRef, err := location.ParseReference(dstName)
	if err != nil {
		return err
	}
	// Registry credentials from ~/.docker/config.json; pkg/ecr adds Amazon ECR.
	auth := location.WithRemoteOptions(remote.WithAuthFromKeychain(authn.DefaultKeychain))

	src, err := location.Open(ctx, srcRef, auth)
	if err != nil {
		return err
	}
	defer src.Close()

	result, report, err := convert.Convert(ctx, src.Index, opts...)
	if err != nil {
		return err
	}

	sink, err := location.NewSink(dstRef, auth)
	if err != nil {
		return err
	}
	if _, err := sink.Write(ctx, result); err != nil {
		return err
	}
	for _, p := range report.Platforms {
		if p.SociIndex != "" {
			fmt.Printf("%s: manifest %s, SOCI index %s\n", p.Platform, p.Manifest, p.SociIndex)
		}
	}
	return nil
}
