//go:build !linux

package blob

import (
	"errors"
	"os"
)

var errNoTmpfile = errors.New("blob: no O_TMPFILE")

func openTmpfile(string) (*os.File, error) { return nil, errNoTmpfile }

func linkTmpfile(*os.File, string) error { return errNoTmpfile }

func tmpfileUsable() bool { return false }
