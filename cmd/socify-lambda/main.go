// Command socify-lambda is the AWS Lambda function that makes every image pushed to Amazon ECR
// SOCI-enabled: build it as "bootstrap" for the provided.al2023 runtime (arm64 or x86_64),
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/socify-lambda
//
// and feed it ECR "Image Action" events through SQS (see deploy/ and docs/fleet.md). Its
// configuration is read from SOCIFY_* environment variables at cold start (see pkg/fleet); a
// bad value fails the init with a message naming the variable.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/socify/socify/pkg/fleet"
)

func main() {
	if n := fleet.MemoryLimit(os.Getenv); n > 0 {
		debug.SetMemoryLimit(n)
	}
	cfg, err := fleet.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "socify-lambda: bad configuration:\n%v\n", err)
		os.Exit(2)
	}
	f, err := fleet.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "socify-lambda: %v\n", err)
		os.Exit(2)
	}
	lambda.Start(f.Invoke)
}
