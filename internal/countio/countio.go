// Package countio counts the bytes written through an io.Writer (archive
// sizes, zTOC output), the one counting writer of the module.
package countio

import "io"

// Writer passes writes to W and counts the bytes W accepted in N.
type Writer struct {
	W io.Writer
	N int64
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
