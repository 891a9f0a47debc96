//go:build !unix

package server

import "errors"

func fsSpace(string) (int64, int64, error) {
	return 0, 0, errors.New("free space is not known on this system")
}
