package registry

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

func TestNewClientValidates(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string // empty: valid
	}{
		{"defaults", nil, ""},
		{"zero attempts", []Option{WithMaxAttempts(0)}, "at least 1 attempt"},
		{"backoff", []Option{WithBackoff(2, 1)}, "base <= max"},
		{"retry-after", []Option{WithMaxRetryAfter(-1)}, "negative"},
		{"parallel connections", []Option{WithParallelReads(0, 1<<20, 0)}, "connections"},
		{"parallel chunk", []Option{WithParallelReads(2, 10, 0)}, "chunk"},
		{"parallel threshold", []Option{WithParallelReads(2, 1<<20, -1)}, "threshold"},
		{"nil auth", []Option{WithAuth(nil)}, "nil authenticator"},
		{"nil keychain", []Option{WithKeychain(nil)}, "nil keychain"},
		{"auth and keychain", []Option{WithAuth(authn.Anonymous), WithKeychain(authn.DefaultKeychain)}, "one of"},
		{"keychain and default chain", []Option{WithDefaultKeychain(), WithKeychain(authn.DefaultKeychain)}, "one of"},
		{"credentials and auth", []Option{WithCredentials("u", "p"), WithAuth(authn.Anonymous)}, "one of"},
		{"empty user", []Option{WithCredentials("", "p")}, "empty user"},
		{"empty password", []Option{WithCredentials("u", "")}, "empty password"},
		{"empty host", []Option{WithCredentials("u", "p", "")}, "empty host"},
		{"insecure empty host", []Option{WithInsecureHosts("")}, "empty host"},
		{"chain with credentials", []Option{WithDefaultKeychain(), WithCredentials("u", "p", "example.com")}, ""},
		{"nil base", []Option{WithBaseTransport(nil)}, "nil transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.opts...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want == "" && c == nil:
				t.Fatal("nil client")
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseUploadRange(t *testing.T) {
	tests := []struct {
		in   string
		end  int64
		okay bool
	}{
		{"0-0", 0, true},
		{"0-1048575", 1048575, true},
		{"bytes=0-99", 99, true},
		{" 0-5 ", 5, true},
		{"", 0, false},
		{"5-10", 0, false},
		{"0-", 0, false},
		{"0--1", 0, false},
		{"0-x", 0, false},
	}
	for _, tt := range tests {
		end, ok := parseUploadRange(tt.in)
		if end != tt.end || ok != tt.okay {
			t.Errorf("parseUploadRange(%q) = %d, %v; want %d, %v", tt.in, end, ok, tt.end, tt.okay)
		}
	}
}
