package fleet_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ecrapi "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/socify/socify/integration/sqstest"
	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/ecr/ecrtest"
	"github.com/socify/socify/pkg/fleet"
)

// The backfill lists the registry through the ECR API stand-in (paginated), queues one event
// per tag on the SQS stand-in, and the function, fed those messages, converts every image. A
// second backfill, converting in-process this time, finds the finished images up to date and
// converts only the one pushed since (resumable).
func TestBackfillThroughTheQueue(t *testing.T) {
	w := newWorld(t, nil)
	w.ecr = ecrtest.New(t, ecrtest.WithCredentials(accessKey, secretKey), ecrtest.WithPassword(func() string { return password }), ecrtest.WithPageSize(2))
	w.env["AWS_ENDPOINT_URL_ECR"] = w.ecr.URL
	add := func(repo, tag string, seed uint64) string {
		d := w.push(t, repo+":"+tag, image(t, gzipLayer(t, seed, 150<<10)))
		w.ecr.AddImage(repo, ecrtest.Image{Digest: d, Tags: []string{tag}})
		return d
	}
	add("team/a", "1", 61)
	add("team/a", "2", 62)
	add("team/b", "1", 63)
	add("other/c", "1", 64)

	creds := credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")
	awsCfg := aws.Config{Region: region, Credentials: creds}
	q := sqstest.New(t)
	cfg, err := fleet.FromEnv(func(k string) string {
		return map[string]string{
			fleet.EnvRepositories: "team/**", fleet.EnvRegistry: w.reg.Addr, fleet.EnvPlainHTTP: "true",
			fleet.EnvMinLayerSize: "0", fleet.EnvSpanSize: "65536",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f, err := fleet.New(cfg, fleet.WithLogOutput(&logs), fleet.WithECROptions(ecr.WithAWSConfig(awsCfg), ecr.WithEndpoint(w.ecr.URL)))
	if err != nil {
		t.Fatal(err)
	}
	opts := fleet.BackfillOptions{
		ECR:      ecrapi.New(ecrapi.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(w.ecr.URL)}),
		Region:   region,
		Queue:    sqs.New(sqs.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(q.URL)}),
		QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/socify-events",
	}
	rep, err := f.Backfill(context.Background(), opts)
	if err != nil || rep.Err() != nil {
		t.Fatalf("%v %v", err, rep.Err())
	}
	msgs := q.Messages()
	if len(msgs) != 3 || rep.Counts["queue"] != 3 || rep.Repositories != 2 {
		t.Fatalf("%d messages, report %+v", len(msgs), rep)
	}
	var bodies [][]byte
	for _, m := range msgs {
		bodies = append(bodies, []byte(m.Body))
	}
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, bodies...)); len(failed) != 0 {
		t.Fatal(failed)
	}
	for _, tag := range []string{"team/a:1-soci", "team/a:2-soci", "team/b:1-soci"} {
		if n := w.sociIndexes(t, tag); n != 1 {
			t.Errorf("%s lists %d SOCI indexes", tag, n)
		}
	}

	fresh := add("team/b", "2", 65)
	opts.Queue, opts.QueueURL, opts.Concurrency = nil, "", 2
	opts.DryRun = true
	rep, err = f.Backfill(context.Background(), opts)
	if err != nil || rep.Err() != nil || rep.Counts[fleet.CodeConvert] != 4 {
		t.Fatalf("dry run: %v %v %+v", err, rep.Err(), rep.Counts)
	}
	if got := w.head(t, "team/b:2-soci"); got != "" {
		t.Fatal("the dry run converted team/b:2")
	}
	opts.DryRun = false
	rep, err = f.Backfill(context.Background(), opts)
	if err != nil || rep.Err() != nil {
		t.Fatalf("%v %v\n%s", err, rep.Err(), logs.String())
	}
	if rep.Counts[fleet.CodeUpToDate] != 3 || rep.Counts[fleet.CodeConvert] != 1 {
		t.Errorf("second backfill: %+v", rep.Counts)
	}
	for _, it := range rep.Items {
		if it.Decision == fleet.CodeConvert && it.Digest == "" {
			t.Errorf("%+v", it)
		}
	}
	if got := w.head(t, "team/b:2-soci"); got == "" {
		t.Errorf("team/b:2-soci (%s) was not converted", fresh)
	}
}
