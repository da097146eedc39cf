// Command convert is the smallest program that uses socify as a library: it
// converts an image and writes the SOCI-enabled result, both named the way
// the socify CLI names them (registry, oci:, oci-archive:, docker-archive:).
// Registry credentials come from socify's default chain: Amazon ECR from
// the AWS credentials, then ~/.docker/config.json.
//
//	go run ./examples/convert oci-archive:example.tar oci-archive:example-soci.tar
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/socify/socify/pkg/socify"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: convert SRC DST")
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, src, dst string, opts ...socify.Option) error {
	res, err := socify.Convert(ctx, src, dst, opts...)
	if err != nil {
		return err
	}
	for _, p := range res.Conversion.Platforms {
		if p.SociIndex != "" {
			fmt.Printf("%s: manifest %s, SOCI index %s\n", p.Platform, p.Manifest, p.SociIndex)
		}
	}
	fmt.Println("written:", res.Reference)
	return nil
}
