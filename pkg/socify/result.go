package socify

import "github.com/socify/socify/pkg/convert"

// Result is what Convert did.
type Result struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	DryRun      bool   `json:"dryRun"`
	// Digest is the converted image index's digest.
	Digest string `json:"digest,omitempty"`
	// Reference names the written image, pinned by digest for registries
	// (repo:tag@digest when a tag was written).
	Reference string `json:"reference,omitempty"`
	// ChildTags are the per-platform tags written with WithTagChildren.
	ChildTags []string `json:"childTags,omitempty"`
	// AlreadySoci: the source was SOCI-enabled already and the conversion
	// made nothing new (the result is the source, byte for byte).
	AlreadySoci bool `json:"alreadySoci"`
	// Changed is false when the destination already held everything.
	Changed    bool            `json:"changed"`
	Write      *WriteReport    `json:"write,omitempty"`
	Conversion *convert.Report `json:"conversion"`
}

// WriteReport tells what the sink did: blobs (for a registry, blobs and
// manifests) written or uploaded, hard-linked from a layout source, and
// already present. In a dry run to a registry it tells what would be
// uploaded.
type WriteReport struct {
	BlobsWritten  int      `json:"blobsWritten"`
	BlobsLinked   int      `json:"blobsLinked"`
	BlobsExisting int      `json:"blobsExisting"`
	BytesWritten  int64    `json:"bytesWritten"`
	BytesExisting int64    `json:"bytesExisting,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
}
