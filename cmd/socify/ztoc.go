package main

import (
	"fmt"
	"io"

	"github.com/socify/socify/pkg/socify"
	"github.com/socify/socify/pkg/ztoc"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/console"
)

func ztocCommand() *cli.Command {
	return &cli.Command{
		Name:  "ztoc",
		Usage: "build and read zTOCs (the per-layer index of a SOCI image)",
		Description: `A zTOC is the table of contents of one layer (every tar entry with its
offset) plus the gzip checkpoints that let the SOCI snapshotter inflate any
span of the layer on its own. These commands work on single files: a layer
blob and a zTOC blob, as found under blobs/sha256/ of an OCI layout.

EXAMPLES:
   socify ztoc build layer.tar.gz -o layer.ztoc
   socify ztoc info layer.ztoc
   socify ztoc list layer.ztoc
   socify ztoc get-file layer.ztoc layer.tar.gz etc/os-release`,
		Flags: commonFlags(),
		Subcommands: []*cli.Command{
			ztocBuildCommand(),
			ztocInfoCommand(),
			ztocListCommand(),
			ztocGetFileCommand(),
		},
	}
}

func ztocBuildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build the zTOC of a layer blob",
		ArgsUsage: "LAYER -o OUT",
		Description: `Reads the layer blob LAYER once (gzip, or an uncompressed tar with
--uncompressed) and writes its serialized zTOC to OUT ("-o -" writes to
stdout). OUT is written under a temporary name and renamed when complete, so
a failure leaves no partial file. With --build-tool-identifier 'AWS SOCI CLI
v0.2' the bytes are identical to what soci v0.16.1 writes for the same layer
and span size. The report (digests, spans, files, warnings) goes to stdout,
or to stderr when stdout carries the zTOC.

EXAMPLES:
   socify ztoc build layer.tar.gz -o layer.ztoc
   socify ztoc build --span-size 65536 --build-tool-identifier 'AWS SOCI CLI v0.2' layer.tar.gz -o layer.ztoc
   socify ztoc build --uncompressed layer.tar -o - | sha256sum`,
		Flags: withCommon(
			stringFlag("out", "", "", "write the zTOC to `FILE` (- for stdout)", "o"),
			sizeFlag("span-size", "", ztoc.DefaultSpanSize, "uncompressed bytes between checkpoints, 1 to 1GiB"),
			stringFlag("build-tool-identifier", "", currentBuild().BuildToolIdentifier(), "identifier written into the zTOC"),
			boolFlag("uncompressed", "", "LAYER is an uncompressed tar, not gzip"),
		),
		Action: ztocBuild,
	}
}

func ztocBuild(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	if c.NArg() != 1 {
		return usageErrorf("ztoc build takes one LAYER argument, got %d", c.NArg())
	}
	layer, out := c.Args().First(), c.String("out")
	if out == "" {
		return usageErrorf("-o OUT is required (-o - writes the zTOC to stdout)")
	}
	b := socify.ZtocBuild{SpanSize: sizeOf(c, "span-size"), BuildToolIdentifier: c.String("build-tool-identifier"), Uncompressed: c.Bool("uncompressed")}
	var rep *socify.ZtocBuildReport
	if err := writeOutput(out, s.stdout, func(w io.Writer) (err error) {
		rep, err = socify.BuildZtocFile(c.Context, layer, w, b, socify.WithLogger(s.log), socify.WithProgress(console.Events(s.progress)))
		return err
	}); err != nil {
		return err
	}
	rep.Out = out
	if out == "-" {
		// stdout carries the zTOC: the report goes to stderr.
		s.stdout = s.stderr
	}
	return s.emitText(rep, rep.WriteText)
}

// zTOCArgs is how info and list name a zTOC.
const zTOCArgs = `The zTOC is a file (ZTOC, "-" for stdin), as found under blobs/sha256/ of an
OCI layout, or the one an image's SOCI index holds for a layer: IMAGE LAYER,
where IMAGE is named like convert's SRC and LAYER is the layer digest.`

// readZtoc reads and decodes the zTOC that args name: a file ("-" for
// stdin), or an image and a layer digest.
func readZtoc(c *cli.Context, s *session) (*ztoc.Ztoc, []byte, string, error) {
	if c.NArg() == 2 {
		opts, err := registryOptions(c, s)
		if err != nil {
			return nil, nil, "", err
		}
		b, err := socify.Ztoc(c.Context, c.Args().Get(0), c.Args().Get(1), opts...)
		if err != nil {
			return nil, nil, "", err
		}
		z, err := ztoc.Unmarshal(b)
		return z, b, c.Args().Get(1), err
	}
	z, b, err := socify.ReadZtocFile(c.Args().First(), s.stdin)
	return z, b, c.Args().First(), err
}

func zTOCArgCount(c *cli.Context) error {
	if n := c.NArg(); n != 1 && n != 2 {
		return usageErrorf("ztoc %s takes one ZTOC argument, or IMAGE LAYER, got %d", c.Command.Name, n)
	}
	return nil
}

func ztocInfoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe a zTOC: version, identifier, sizes, spans and checkpoints (JSON by default)",
		ArgsUsage: "ZTOC | IMAGE LAYER",
		Description: `Decodes a zTOC and prints its header fields, the compressed byte range and
digest of every span, and, for gzip layers, every checkpoint: compressed
offset (in), uncompressed offset (out) and the bit offset inside the byte
before "in" (bits). The output is JSON unless --output text is given, because
scripts are its main reader.

` + zTOCArgs + `

EXAMPLES:
   socify ztoc info layer.ztoc
   socify ztoc info layer.ztoc | jq '.checkpoints[].out'
   socify ztoc info --output text oci-archive:image-soci.tar sha256:0005176c4a49f8566f0859dd6a5e04aa01465d9af8f69ba1887abaa6b504fdef`,
		Flags:  withCommon(registryFlags()...),
		Action: ztocInfo,
	}
}

func ztocInfo(c *cli.Context) error {
	s, err := setupFormat(c, formatJSON)
	if err != nil {
		return err
	}
	defer s.close()
	if err := zTOCArgCount(c); err != nil {
		return err
	}
	_, b, name, err := readZtoc(c, s)
	if err != nil {
		return err
	}
	info, err := ztoc.Describe(b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rep := struct {
		Ztoc string `json:"ztoc"`
		*ztoc.Info
	}{name, info}
	return s.emit(rep, func(w io.Writer) error { return info.WriteText(w, name) })
}

func ztocListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the files a zTOC indexes, like tar tv",
		ArgsUsage: "ZTOC | IMAGE LAYER",
		Description: `Prints one line per TOC entry of a zTOC in the form of "tar tv": mode,
owner/group, size (major,minor for devices), modification time in UTC, name,
and the link target. --output json prints every field, including the entry's
offset in the uncompressed tar and its PAX records.

` + zTOCArgs + `

EXAMPLES:
   socify ztoc list layer.ztoc
   socify ztoc list oci-archive:image-soci.tar sha256:0005176c4a49f8566f0859dd6a5e04aa01465d9af8f69ba1887abaa6b504fdef
   socify ztoc list --output json layer.ztoc | jq -r '.[] | select(.type == "reg") | .name'`,
		Flags:  withCommon(registryFlags()...),
		Action: ztocList,
	}
}

func ztocList(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	if err := zTOCArgCount(c); err != nil {
		return err
	}
	z, _, _, err := readZtoc(c, s)
	if err != nil {
		return err
	}
	return s.emit(z.Entries(), z.WriteList)
}

func ztocGetFileCommand() *cli.Command {
	return &cli.Command{
		Name:      "get-file",
		Usage:     "extract one file of a layer through its zTOC",
		ArgsUsage: "ZTOC LAYER PATH",
		Description: `Writes the contents of the regular file PATH of the layer blob LAYER to
stdout, or to FILE with -o (written under a temporary name, renamed when
complete). The file is read the way the SOCI snapshotter reads it: inflating
from the nearest checkpoint before it, not the whole layer. PATH is the name
in the tar; a leading "/" or "./" is optional. Hard links are followed. PATH
only selects an entry; socify never writes anywhere but stdout or -o FILE.

EXAMPLES:
   socify ztoc get-file layer.ztoc layer.tar.gz etc/os-release
   socify ztoc get-file layer.ztoc layer.tar.gz /usr/bin/env -o env.bin`,
		Flags: withCommon(
			&cli.StringFlag{
				Name:    "out",
				Aliases: []string{"o"},
				Value:   "-",
				Usage:   "write the file to `FILE` (- for stdout)",
				EnvVars: envs("out"),
			},
		),
		Action: ztocGetFile,
	}
}

func ztocGetFile(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	if c.NArg() != 3 {
		return usageErrorf("ztoc get-file takes ZTOC LAYER PATH, got %d arguments", c.NArg())
	}
	zpath, layer, path := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
	out := c.String("out")
	if out == "" {
		return usageErrorf("-o FILE must not be empty (- is stdout)")
	}
	if zpath == "-" && layer == "-" {
		return usageErrorf("only one of ZTOC and LAYER can be read from stdin, and LAYER cannot")
	}
	if layer == "-" {
		return usageErrorf("LAYER must be a file: get-file reads it at random offsets")
	}
	z, _, err := socify.ReadZtocFile(zpath, s.stdin)
	if err != nil {
		return err
	}
	var rep *socify.ExtractReport
	if err := writeOutput(out, s.stdout, func(w io.Writer) (err error) {
		rep, err = socify.ExtractFile(c.Context, z, zpath, layer, path, w)
		return err
	}); err != nil {
		return err
	}
	if out == "-" {
		// stdout carries the file's bytes; the JSON report would corrupt it.
		return nil
	}
	rep.Out = out
	return s.emitText(rep, rep.WriteText)
}
