package config

import _ "embed"

// DefaultText is the full, commented default configuration
// (`kantorpos config default`).
//
//go:embed default.toml
var DefaultText string
