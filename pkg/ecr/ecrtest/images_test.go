package ecrtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

func client(s *Server) *ecr.Client {
	return ecr.New(ecr.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(s.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
	})
}

// The SDK's paginators walk the stand-in's pages; its errors are AWS error documents the SDK
// decodes into typed errors.
func TestImageCalls(t *testing.T) {
	s := New(t, WithCredentials("AKID", "secret"), WithPageSize(3))
	for i := range 7 {
		s.AddImage("app", Image{Digest: fmt.Sprintf("sha256:%064d", i), Tags: []string{fmt.Sprintf("v%d", i)}, Manifest: "{}"})
	}
	s.AddImage("app", Image{Digest: fmt.Sprintf("sha256:%064d", 9)})
	s.AddImage("app", Image{Digest: fmt.Sprintf("sha256:%064d", 8), Tags: []string{"v0"}}) // v0 moves here
	s.AddRepository("locked", true)
	ctx := context.Background()
	c := client(s)

	var repos []types.Repository
	for p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		repos = append(repos, page.Repositories...)
	}
	if len(repos) != 2 || *repos[0].RepositoryName != "app" || repos[1].ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Fatalf("%+v", repos)
	}
	count := func(status types.TagStatus) (n, pages int) {
		for p := ecr.NewDescribeImagesPaginator(c, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), Filter: &types.DescribeImagesFilter{TagStatus: status}}); p.HasMorePages(); pages++ {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.ImageDetails)
		}
		return n, pages
	}
	// Image 0 lost its only tag to image 8.
	if n, pages := count(types.TagStatusTagged); n != 7 || pages != 3 {
		t.Errorf("tagged: %d images in %d pages", n, pages)
	}
	if n, _ := count(types.TagStatusUntagged); n != 2 {
		t.Errorf("untagged: %d", n)
	}
	got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v0")}, {ImageTag: aws.String("nope")}}})
	if err != nil || len(got.Images) != 1 || *got.Images[0].ImageId.ImageDigest != fmt.Sprintf("sha256:%064d", 8) || len(got.Failures) != 1 {
		t.Errorf("BatchGetImage: %v %+v", err, got)
	}

	var nf *types.RepositoryNotFoundException
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("missing")}); !errors.As(err, &nf) {
		t.Errorf("missing repository: %v", err)
	}
	var ae smithy.APIError
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app"), NextToken: aws.String("forged")}); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" {
		t.Errorf("forged token: %v", err)
	}
	s.Fail("ThrottlingException", 400, "Rate exceeded", 1)
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}, func(o *ecr.Options) { o.RetryMaxAttempts = 1 }); !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Errorf("queued failure: %v", err)
	}
}
