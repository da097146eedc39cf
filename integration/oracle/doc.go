// Package oracle holds the differential tests of pkg/ztoc against soci's
// own ztoc package (github.com/awslabs/soci-snapshotter v0.16.1, cgo + zlib),
// the reference whose bytes socify must reproduce. The tests are in
// oracle_test.go; mismatches are explained with ztoc.Diff.
package oracle
