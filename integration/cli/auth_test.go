package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
)

// TestAuthCheck runs `socify auth check` against a registry with htpasswd users.
func TestAuthCheck(t *testing.T) {
	const user, password = "ci", "s3cret-Pa55word"
	reg := registrytest.New(t, registrytest.WithUser(user, password))
	basic := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.BackendRef("team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, basic); err != nil {
		t.Fatal(err)
	}

	login := func(pw string) (string, []string) { return pw + "\n", []string{"--username", user, "--password-stdin"} }
	tests := []struct {
		name  string
		stdin string
		argv  []string
		code  int
		// parts of stdout (the report) and stderr
		stdout, stderr []string
	}{
		{
			name: "right password", code: 0,
			argv:   []string{"auth", "check", reg.Ref("team/app:v1")},
			stdout: []string{"credentials  explicit", "pull         ok", "push         ok"},
		},
		{
			name: "right password, pull only", code: 0,
			argv:   []string{"auth", "check", "--pull-only", reg.Ref("team/app:v1")},
			stdout: []string{"pull         ok"},
		},
		{
			name: "wrong password", code: 5,
			argv:   []string{"auth", "check", reg.Ref("team/app:v1")},
			stdout: []string{"pull         FAILED", "rejected the credentials", "push         FAILED"},
			stderr: []string{"access check failed"},
		},
		{
			name: "wrong password, pull only", code: 5,
			argv:   []string{"auth", "check", "--pull-only", reg.Ref("team/app:v1")},
			stdout: []string{"pull         FAILED", "hint: log in with"},
		},
		{
			// The credentials work; the image just is not there, which auth check reports as
			// such and does not count as an access problem.
			name: "missing tag", code: 0,
			argv:   []string{"auth", "check", reg.Ref("team/app:nope")},
			stdout: []string{"pull         ok (credentials accepted; image " + reg.Ref("team/app:nope") + " does not exist: no such tag or digest, or no such repository \"team/app\")"},
		},
		{
			name: "missing repository", code: 0,
			argv:   []string{"auth", "check", reg.Ref("nothere/app:v1")},
			stdout: []string{"pull         ok (credentials accepted; image " + reg.Ref("nothere/app:v1") + " does not exist: no such tag or digest, or no such repository \"nothere/app\")"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pw := password
			if strings.HasPrefix(tc.name, "wrong password") {
				pw = "not-the-password"
			}
			stdin, flags := login(pw)
			r := socify(t, stdin, append(tc.argv, flags...)...)
			if r.code != tc.code {
				t.Fatalf("want exit %d\n%s", tc.code, r)
			}
			for _, p := range tc.stdout {
				if !strings.Contains(r.stdout, p) {
					t.Errorf("stdout lacks %q:\n%s", p, r.stdout)
				}
			}
			for _, p := range tc.stderr {
				if !strings.Contains(r.stderr, p) {
					t.Errorf("stderr lacks %q:\n%s", p, r.stderr)
				}
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		r := socify(t, "", "auth", "check", reg.Ref("team/app:v1"))
		if r.code != 5 {
			t.Fatalf("anonymous access to an htpasswd registry: want exit 5\n%s", r)
		}
	})

	t.Run("json, missing image", func(t *testing.T) {
		stdin, flags := login(password)
		r := socify(t, stdin, append([]string{"auth", "check", "--output", "json", reg.Ref("team/app:nope")}, flags...)...)
		if r.code != 0 {
			t.Fatalf("want exit 0\n%s", r)
		}
		var rep struct {
			Source string `json:"credentials"`
			Pull   struct {
				OK      bool   `json:"ok"`
				Message string `json:"message"`
			} `json:"pull"`
			Push *struct {
				OK bool `json:"ok"`
			} `json:"push"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("auth check --output json: %v\n%s", err, r)
		}
		if rep.Source != "explicit" || !rep.Pull.OK || !strings.Contains(rep.Pull.Message, "does not exist") || rep.Push == nil || !rep.Push.OK {
			t.Errorf("report: %+v\n%s", rep, r.stdout)
		}
	})

	t.Run("json, wrong password", func(t *testing.T) {
		stdin, flags := login("not-the-password")
		r := socify(t, stdin, append([]string{"auth", "check", "--output", "json", reg.Ref("team/app:v1")}, flags...)...)
		if r.code != 5 {
			t.Fatalf("want exit 5\n%s", r)
		}
		var rep struct {
			Pull struct {
				OK      bool   `json:"ok"`
				Message string `json:"message"`
				Hint    string `json:"hint"`
			} `json:"pull"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("auth check --output json printed more than one JSON document or none: %v\n%s", err, r)
		}
		if rep.Pull.OK || !strings.Contains(rep.Pull.Message, "rejected the credentials") || rep.Pull.Hint == "" {
			t.Errorf("report: %+v", rep)
		}
	})
}
