// Package ecr logs socify in to Amazon ECR by itself: an authn.Keychain that recognises ECR
// registry hosts and gets registry tokens with aws-sdk-go-v2 (GetAuthorizationToken), caches them
// per region and renews them before they expire, even in the middle of a long conversion. A Chain
// composes it with go-containerregistry's default keychain (docker config, credential helpers) and
// explicit credentials, and Explain reports which of them served a registry (`socify auth check`).
package ecr

import (
	"net"
	"regexp"
	"strings"
)

// PublicHost is the registry of Amazon ECR Public.
const PublicHost = "public.ecr.aws"

// PublicRegion is the only region that serves the ECR Public API.
const PublicRegion = "us-east-1"

// Registry is an Amazon ECR registry recognised from its host name.
type Registry struct {
	Host    string // as found in the reference, without a port
	Public  bool   // ECR Public (public.ecr.aws); Account and FIPS are then empty
	Account string // 12-digit AWS account ID
	Region  string // e.g. "us-east-1", "cn-north-1"
	FIPS    bool   // dkr.ecr-fips: the API must be called on the FIPS endpoint too
}

// privateHost matches the private registry endpoints, including China (amazonaws.com.cn), FIPS
// (dkr.ecr-fips), the dual-stack names (dkr-ecr.<region>.on.aws) and the isolated partitions, the
// same set docker-credential-ecr-login accepts.
var privateHost = regexp.MustCompile(`^([0-9]{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.(amazonaws\.com(\.cn)?|on\.(aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// ParseHost recognises an ECR registry host ("host" or "host:port", any case).
func ParseHost(host string) (Registry, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	if h == PublicHost {
		return Registry{Host: h, Public: true, Region: PublicRegion}, true
	}
	m := privateHost.FindStringSubmatch(h)
	if m == nil {
		return Registry{}, false
	}
	return Registry{Host: h, Account: m[1], FIPS: m[2] != "", Region: m[3]}, true
}
