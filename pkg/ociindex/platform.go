package ociindex

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These follow containerd/platforms (the rules soci uses) without its host
// dependent defaults: an empty OS stays empty instead of becoming the host's,
// and a specifier must name both OS and architecture.

// NormalizePlatform lowercases and canonicalizes OS, architecture and variant
// (x86_64 -> amd64, aarch64 -> arm64, arm64/v8 -> arm64, arm -> arm/v7, ...).
func NormalizePlatform(p ocispec.Platform) ocispec.Platform {
	p.OS = normalizeOS(p.OS)
	p.Architecture, p.Variant = normalizeArch(p.Architecture, p.Variant)
	return p
}

func normalizeOS(os string) string {
	os = strings.ToLower(os)
	if os == "macos" {
		return "darwin"
	}
	return os
}

func normalizeArch(arch, variant string) (string, string) {
	arch, variant = strings.ToLower(arch), strings.ToLower(variant)
	switch arch {
	case "i386":
		arch, variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "aarch64", "arm64":
		arch = "arm64"
		switch variant {
		case "8", "v8", "v8.0":
			variant = ""
		case "9", "9.0", "v9.0":
			variant = "v9"
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	return arch, variant
}

// MatchPlatform is containerd's strict match (platforms.OnlyStrict): have
// matches want when OS, architecture and variant are equal after
// normalization and, if want names an OS version, the versions are equal.
func MatchPlatform(want, have ocispec.Platform) bool {
	w, h := NormalizePlatform(want), NormalizePlatform(have)
	if w.OS != h.OS || w.Architecture != h.Architecture || w.Variant != h.Variant {
		return false
	}
	return w.OSVersion == "" || w.OSVersion == h.OSVersion
}

// IsUnknownPlatform reports the platform buildx gives attestation manifests
// (unknown/unknown): such manifests are never indexed.
func IsUnknownPlatform(p *ocispec.Platform) bool {
	return p != nil && (p.OS == "unknown" || p.Architecture == "unknown")
}

// validComponent is containerd's specifier component rule, [A-Za-z0-9_.-]+.
func validComponent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// ParsePlatform parses "os/arch[/variant]" with an optional OS version, written
// either as go-containerregistry writes it ("windows/amd64:10.0.20348", the form
// FormatPlatform and every report use) or in parentheses as containerd does
// ("windows(10.0.20348)/amd64"). It applies containerd's platforms.Parse rules, so
// the result equals what soci writes for the same --platform value:
// "linux/arm64/v8" keeps variant v8, "linux/arm" drops the implied v7,
// "linux/x86_64" becomes linux/amd64. Unlike containerd, a lone OS or architecture
// is refused, because completing it from the host would make the output depend on
// the machine.
func ParsePlatform(s string) (v1.Platform, error) {
	if strings.Contains(s, "*") {
		return v1.Platform{}, fmt.Errorf("platform %q: wildcards are not supported", s)
	}
	spec, osVersion := s, ""
	if i := strings.Index(spec, "("); i >= 0 {
		j := strings.Index(spec, ")")
		if j < i || (j+1 < len(spec) && spec[j+1] != '/') {
			return v1.Platform{}, fmt.Errorf("platform %q: malformed OS version", s)
		}
		osVersion, spec = spec[i+1:j], spec[:i]+spec[j+1:]
	} else if i := strings.LastIndex(spec, ":"); i >= 0 {
		osVersion, spec = spec[i+1:], spec[:i]
		if osVersion == "" {
			return v1.Platform{}, fmt.Errorf("platform %q: malformed OS version", s)
		}
	}
	return checkParts(s, strings.Split(spec, "/"), osVersion)
}

// CheckPlatform applies ParsePlatform's rules to a platform that is already a
// struct (read from an image config, say): the same validation, the same
// normalization.
func CheckPlatform(p v1.Platform) (v1.Platform, error) {
	parts := []string{p.OS, p.Architecture}
	if p.Variant != "" {
		parts = append(parts, p.Variant)
	}
	return checkParts(FormatPlatform(OCIPlatform(p)), parts, p.OSVersion)
}

func checkParts(s string, parts []string, osVersion string) (v1.Platform, error) {
	p := v1.Platform{OSVersion: osVersion}
	for _, part := range parts {
		if !validComponent(part) {
			return v1.Platform{}, fmt.Errorf("platform %q: %q is not a valid component (letters, digits, _ . - only)", s, part)
		}
	}
	switch len(parts) {
	case 2:
		p.OS = normalizeOS(parts[0])
		p.Architecture, p.Variant = normalizeArch(parts[1], "")
		if p.Architecture == "arm" && p.Variant == "v7" {
			p.Variant = ""
		}
	case 3:
		p.OS = normalizeOS(parts[0])
		p.Architecture, p.Variant = normalizeArch(parts[1], parts[2])
		if p.Architecture == "arm64" && p.Variant == "" {
			p.Variant = "v8"
		}
	default:
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], for example linux/amd64 or linux/arm64/v8", s)
	}
	return p, nil
}

// ParsePlatforms parses each of specs with ParsePlatform (the CLI's --platform values).
func ParsePlatforms(specs []string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, s := range specs {
		p, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// FormatPlatform writes os/arch[/variant][:osversion], as go-containerregistry's
// v1.Platform.String does, so that every message and report writes a platform the
// same way and ParsePlatform reads it back.
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	return s
}

// OCIPlatform is p as the OCI descriptors of pkg/ociindex carry it. The
// public APIs take go-containerregistry's v1.Platform; the documents this
// package writes use the OCI type, and this is the one conversion.
func OCIPlatform(p v1.Platform) ocispec.Platform {
	return ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		OSFeatures: append([]string(nil), p.OSFeatures...)}
}

// V1Platform is the inverse of OCIPlatform.
func V1Platform(p ocispec.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		OSFeatures: append([]string(nil), p.OSFeatures...)}
}

// ReportDescriptor is d the way socify's reports (convert's, verify's and pkg/socify's) carry
// descriptors: go-containerregistry's v1.Descriptor, their one descriptor type, with the media
// type, digest and size only.
//
// A digest v1.NewHash refuses (bad hex, another algorithm: what verify exists to report) is
// kept as written, split at its colon, rather than lost as the zero Hash (":").
func ReportDescriptor(d ocispec.Descriptor) v1.Descriptor {
	h, err := v1.NewHash(d.Digest.String())
	if err != nil {
		alg, hex, _ := strings.Cut(d.Digest.String(), ":")
		h = v1.Hash{Algorithm: alg, Hex: hex}
	}
	return v1.Descriptor{MediaType: types.MediaType(d.MediaType), Digest: h, Size: d.Size}
}

// ConfigPlatform is containerd's ConfigPlatform, the rule soci applies to a
// manifest without a descriptor platform: the os, architecture, variant and
// os.version fields of the image config, normalized.
func ConfigPlatform(config []byte) (ocispec.Platform, error) {
	var p ocispec.Platform
	if err := json.Unmarshal(config, &p); err != nil {
		return p, fmt.Errorf("decode config: %w", err)
	}
	return NormalizePlatform(p), nil
}
