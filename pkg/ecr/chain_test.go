package ecr_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	socifyecr "github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/ecr/ecrtest"
)

func writeDockerConfig(t *testing.T, dir string, hosts map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"auths":{`)
	first := true
	for h, up := range hosts {
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + h + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(up)) + `"}`)
	}
	b.WriteString(`}}`)
	d := filepath.Join(dir, "docker")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestChainExplain(t *testing.T) {
	tests := []struct {
		name        string
		awsCreds    bool
		docker      map[string]string
		explicit    authn.Keychain
		target      string
		wantSource  socifyecr.Source
		wantDetail  string
		wantSkipped []string
	}{
		{
			name: "ecr first", awsCreds: true, docker: map[string]string{host: "AWS:stale"},
			target: host + "/app", wantSource: socifyecr.SourceECR, wantDetail: "account 123456789012, region eu-west-1",
		},
		{
			name: "ecr without aws credentials falls to docker config", docker: map[string]string{host: "AWS:from-docker-login"},
			target: host + "/app", wantSource: socifyecr.SourceDocker, wantDetail: "user AWS",
			wantSkipped: []string{"ecr: no usable AWS credentials"},
		},
		{
			name: "other registry from docker config", awsCreds: true, docker: map[string]string{"registry.example.com": "bot:pw"},
			target: "registry.example.com/app", wantSource: socifyecr.SourceDocker, wantDetail: "user bot",
			wantSkipped: []string{"ecr: not an Amazon ECR registry"},
		},
		{
			name: "explicit first", awsCreds: true, explicit: socifyecr.Explicit("ci", "pw", "registry.example.com"),
			docker: map[string]string{"registry.example.com:5000": "bot:pw"},
			target: "registry.example.com:5000/app", wantSource: socifyecr.SourceExplicit, wantDetail: "user ci",
		},
		{
			name: "explicit before ecr", awsCreds: true, explicit: socifyecr.Explicit("AWS", "typed", host),
			target: host + "/app", wantSource: socifyecr.SourceExplicit, wantDetail: "user AWS",
		},
		{
			name: "explicit for other hosts only", explicit: socifyecr.Explicit("ci", "pw", "registry.example.com:5000"),
			target: "other.example.com/app", wantSource: socifyecr.SourceAnonymous, wantDetail: "anonymous",
			wantSkipped: []string{"explicit: given for other registries", "ecr:", "docker-config:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := isolateAWS(t, tt.awsCreds)
			if tt.docker != nil {
				writeDockerConfig(t, dir, tt.docker)
			}
			s := ecrtest.New(t)
			chain := socifyecr.DefaultChain(socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL)), tt.explicit)
			m, err := chain.Explain(context.Background(), repo(t, tt.target))
			if err != nil {
				t.Fatal(err)
			}
			if m.Source != tt.wantSource || !strings.Contains(m.Detail, tt.wantDetail) {
				t.Fatalf("match %s %q, want %s %q", m.Source, m.Detail, tt.wantSource, tt.wantDetail)
			}
			if len(m.Skipped) != len(tt.wantSkipped) {
				t.Fatalf("skipped %q, want %q", m.Skipped, tt.wantSkipped)
			}
			for i := range m.Skipped {
				if !strings.HasPrefix(m.Skipped[i], tt.wantSkipped[i]) {
					t.Fatalf("skipped %q, want %q", m.Skipped, tt.wantSkipped)
				}
			}
			a, err := chain.Resolve(repo(t, tt.target))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSource == socifyecr.SourceAnonymous && a != authn.Anonymous {
				t.Fatal("Resolve disagrees with Explain")
			}
			if tt.wantSource == socifyecr.SourceECR {
				if cfg := authorize(t, a); cfg.Password != s.Issued()[0].Password {
					t.Fatal("ECR token not used")
				}
			}
		})
	}
}

func TestChainStopsOnECRError(t *testing.T) {
	dir := isolateAWS(t, true)
	writeDockerConfig(t, dir, map[string]string{host: "AWS:stale"})
	s := ecrtest.New(t)
	s.Fail("AccessDeniedException", 400, "not authorized to perform: ecr:GetAuthorizationToken", 1)
	chain := socifyecr.DefaultChain(socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), fastRetries(1)), nil)
	m, err := chain.Explain(context.Background(), repo(t, host+"/app"))
	if err == nil || m.Source != socifyecr.SourceECR || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("match %+v err %v: an ECR failure must not fall back to stale docker credentials", m, err)
	}
}
