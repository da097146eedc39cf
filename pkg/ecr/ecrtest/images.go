package ecrtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The repository and image calls of the private ECR API that listing code makes
// (DescribeRepositories, DescribeImages, BatchGetImage), over repositories and images registered
// with AddRepository and AddImage. Pagination is ECR's: maxResults (default and upper bound as
// ECR's, or WithPageSize) and an opaque nextToken.

const apiPrefix = "AmazonEC2ContainerRegistry_V20150921."

// Image is an image the stand-in lists.
type Image struct {
	Digest    string
	Tags      []string
	MediaType string // default application/vnd.oci.image.index.v1+json
	Size      int64
	PushedAt  time.Time
	// Manifest is what BatchGetImage returns; may be empty.
	Manifest string
}

type repository struct {
	name       string
	mutability string
	created    time.Time
	images     []Image
}

// WithPageSize makes every list call return at most n items per page, whatever maxResults the
// caller asks for, so that tests see pagination with few items.
func WithPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// AddRepository registers a repository; immutable sets imageTagMutability IMMUTABLE. Adding it
// again changes its mutability.
func (s *Server) AddRepository(name string, immutable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := "MUTABLE"
	if immutable {
		m = "IMMUTABLE"
	}
	if r, ok := s.repos[name]; ok {
		r.mutability = m
		return
	}
	s.repos[name] = &repository{name: name, mutability: m, created: s.now()}
}

// AddImage registers an image in repo (created if needed); an image with the same digest is
// replaced, and its tags leave any other image of the repository, as in ECR.
func (s *Server) AddImage(repo string, img Image) {
	s.AddRepository(repo, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if img.MediaType == "" {
		img.MediaType = "application/vnd.oci.image.index.v1+json"
	}
	if img.PushedAt.IsZero() {
		img.PushedAt = s.now()
	}
	r.images = slices.DeleteFunc(r.images, func(i Image) bool { return i.Digest == img.Digest })
	for i := range r.images {
		r.images[i].Tags = slices.DeleteFunc(r.images[i].Tags, func(t string) bool { return slices.Contains(img.Tags, t) })
	}
	r.images = append(r.images, img)
}

type apiError struct {
	status    int
	code, msg string
}

type apiHandler func(s *Server, region string, body []byte) (any, *apiError)

var apiHandlers = map[string]apiHandler{
	"DescribeRepositories": (*Server).describeRepositories,
	"DescribeImages":       (*Server).describeImages,
	"BatchGetImage":        (*Server).batchGetImage,
}

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: 400, code: "InvalidParameterException", msg: fmt.Sprintf(format, a...)}
}

// page cuts items at the token and the page size.
func (s *Server) page(n int, token string, maxResults, maxAllowed int) (from, to int, next string, err *apiError) {
	if maxResults < 0 || maxResults > maxAllowed {
		return 0, 0, "", badRequest("maxResults must be between 1 and %d", maxAllowed)
	}
	size := maxResults
	if size == 0 {
		size = 100
	}
	if s.pageSize > 0 && s.pageSize < size {
		size = s.pageSize
	}
	if token != "" {
		v, ok := strings.CutPrefix(token, "page-")
		i, perr := strconv.Atoi(v)
		if !ok || perr != nil || i < 0 || i > n {
			return 0, 0, "", badRequest("Invalid NextToken")
		}
		from = i
	}
	to = min(from+size, n)
	if to < n {
		next = "page-" + strconv.Itoa(to)
	}
	return from, to, next, nil
}

func epoch(t time.Time) json.Number {
	return json.Number(fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000))
}

func (s *Server) describeRepositories(region string, body []byte) (any, *apiError) {
	var in struct {
		RegistryID      string   `json:"registryId"`
		RepositoryNames []string `json:"repositoryNames"`
		NextToken       string   `json:"nextToken"`
		MaxResults      int      `json:"maxResults"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{400, "SerializationException", err.Error()}
	}
	if len(in.RepositoryNames) > 0 && (in.NextToken != "" || in.MaxResults != 0) {
		return nil, badRequest("repositoryNames cannot be combined with nextToken or maxResults")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.RegistryID != "" && in.RegistryID != s.account {
		return nil, &apiError{400, "RepositoryNotFoundException", fmt.Sprintf("registry %s has no repositories for this identity", in.RegistryID)}
	}
	var names []string
	if len(in.RepositoryNames) > 0 {
		for _, n := range in.RepositoryNames {
			if s.repos[n] == nil {
				return nil, &apiError{400, "RepositoryNotFoundException", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", n, s.account)}
			}
			names = append(names, n)
		}
	} else {
		for n := range s.repos {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	from, to, next, aerr := s.page(len(names), in.NextToken, in.MaxResults, 1000)
	if aerr != nil {
		return nil, aerr
	}
	out := []any{}
	for _, n := range names[from:to] {
		r := s.repos[n]
		out = append(out, map[string]any{
			"repositoryArn":      fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", region, s.account, n),
			"registryId":         s.account,
			"repositoryName":     n,
			"repositoryUri":      fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", s.account, region, n),
			"createdAt":          epoch(r.created),
			"imageTagMutability": r.mutability,
		})
	}
	resp := map[string]any{"repositories": out}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}

type imageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

func (s *Server) repo(name string) (*repository, *apiError) {
	r := s.repos[name]
	if r == nil {
		return nil, &apiError{400, "RepositoryNotFoundException", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, s.account)}
	}
	return r, nil
}

func (r *repository) find(id imageID) (Image, bool) {
	for _, img := range r.images {
		if (id.ImageDigest == "" || img.Digest == id.ImageDigest) && (id.ImageTag == "" || slices.Contains(img.Tags, id.ImageTag)) {
			return img, true
		}
	}
	return Image{}, false
}

func (s *Server) describeImages(_ string, body []byte) (any, *apiError) {
	var in struct {
		RepositoryName string    `json:"repositoryName"`
		ImageIDs       []imageID `json:"imageIds"`
		NextToken      string    `json:"nextToken"`
		MaxResults     int       `json:"maxResults"`
		Filter         struct {
			TagStatus string `json:"tagStatus"`
		} `json:"filter"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{400, "SerializationException", err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, aerr := s.repo(in.RepositoryName)
	if aerr != nil {
		return nil, aerr
	}
	var imgs []Image
	if len(in.ImageIDs) > 0 {
		for _, id := range in.ImageIDs {
			img, ok := r.find(id)
			if !ok {
				return nil, &apiError{400, "ImageNotFoundException", fmt.Sprintf("The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s'", id.ImageDigest, id.ImageTag, r.name)}
			}
			imgs = append(imgs, img)
		}
	} else {
		for _, img := range r.images {
			switch in.Filter.TagStatus {
			case "TAGGED":
				if len(img.Tags) == 0 {
					continue
				}
			case "UNTAGGED":
				if len(img.Tags) > 0 {
					continue
				}
			case "", "ANY":
			default:
				return nil, badRequest("tagStatus %q", in.Filter.TagStatus)
			}
			imgs = append(imgs, img)
		}
	}
	from, to, next, aerr := s.page(len(imgs), in.NextToken, in.MaxResults, 1000)
	if aerr != nil {
		return nil, aerr
	}
	out := []any{}
	for _, img := range imgs[from:to] {
		d := map[string]any{
			"registryId":             s.account,
			"repositoryName":         r.name,
			"imageDigest":            img.Digest,
			"imageSizeInBytes":       img.Size,
			"imagePushedAt":          epoch(img.PushedAt),
			"imageManifestMediaType": img.MediaType,
		}
		if len(img.Tags) > 0 {
			d["imageTags"] = img.Tags
		}
		out = append(out, d)
	}
	resp := map[string]any{"imageDetails": out}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}

func (s *Server) batchGetImage(_ string, body []byte) (any, *apiError) {
	var in struct {
		RepositoryName string    `json:"repositoryName"`
		ImageIDs       []imageID `json:"imageIds"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{400, "SerializationException", err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, aerr := s.repo(in.RepositoryName)
	if aerr != nil {
		return nil, aerr
	}
	images, failures := []any{}, []any{}
	for _, id := range in.ImageIDs {
		img, ok := r.find(id)
		if !ok {
			failures = append(failures, map[string]any{"imageId": id, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"})
			continue
		}
		id.ImageDigest = img.Digest
		images = append(images, map[string]any{
			"registryId": s.account, "repositoryName": r.name, "imageId": id,
			"imageManifest": img.Manifest, "imageManifestMediaType": img.MediaType,
		})
	}
	return map[string]any{"images": images, "failures": failures}, nil
}
