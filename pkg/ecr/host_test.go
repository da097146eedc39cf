package ecr

import "testing"

func TestParseHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
		want Registry
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", true, Registry{Host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Account: "123456789012", Region: "us-east-1"}},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com:443", true, Registry{Host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", Account: "123456789012", Region: "eu-west-1"}},
		{"123456789012.DKR.ECR.us-west-2.AMAZONAWS.COM", true, Registry{Host: "123456789012.dkr.ecr.us-west-2.amazonaws.com", Account: "123456789012", Region: "us-west-2"}},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", true, Registry{Host: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Account: "123456789012", Region: "cn-north-1"}},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", true, Registry{Host: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", Account: "123456789012", Region: "us-gov-west-1", FIPS: true}},
		{"123456789012.dkr-ecr.ap-south-1.on.aws", true, Registry{Host: "123456789012.dkr-ecr.ap-south-1.on.aws", Account: "123456789012", Region: "ap-south-1"}},
		{"public.ecr.aws", true, Registry{Host: "public.ecr.aws", Public: true, Region: "us-east-1"}},
		{"12345678901.dkr.ecr.us-east-1.amazonaws.com", false, Registry{}}, // 11 digits
		{"123456789012.dkr.ecr.us-east-1.amazonaws.co", false, Registry{}}, // not AWS
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", false, Registry{}},
		{"evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com", false, Registry{}},
		{"index.docker.io", false, Registry{}},
		{"ecr.aws", false, Registry{}},
		{"", false, Registry{}},
	}
	for _, tt := range tests {
		got, ok := ParseHost(tt.host)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v, %v", tt.host, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeToken(t *testing.T) {
	tests := []struct {
		in         string
		user, pass string
		ok         bool
	}{
		{"QVdTOnNlY3JldA==", "AWS", "secret", true}, // AWS:secret
		{"QVdTOmE6Yg==", "AWS", "a:b", true},        // AWS:a:b, passwords may hold ':'
		{"QVdT", "", "", false},                     // AWS
		{"not base64!", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		tok, err := decodeToken(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("decodeToken(%q) err = %v", tt.in, err)
			continue
		}
		if tt.ok && (tok.Username != tt.user || tok.Password != tt.pass) {
			t.Errorf("decodeToken(%q) = %q/%q", tt.in, tok.Username, tok.Password)
		}
	}
}
