//go:build !linux

package main

import (
	"errors"

	"github.com/kantorpos/kantorpos/internal/config"
)

// becomeServiceUser is only implemented on Linux: elsewhere, do not start
// the server as root.
func becomeServiceUser(config.Config) (string, error) {
	return "", errors.New("serve does not run as root here: start it as an unprivileged user")
}
