package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/queue"
	"github.com/kantorpos/kantorpos/internal/router"
	"github.com/kantorpos/kantorpos/internal/server"
)

// dataFlags are the flags of every command that works on the data of a
// server (running or not): -config, -data, -dev.
type dataFlags struct {
	config string
	data   string
	dev    bool
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.config, "config", "", "configuration `file` (default: $KANTORPOS_CONFIG, else "+SystemConfig+" if present, else built-in defaults)")
	fs.StringVar(&d.data, "data", "", "data `directory` (overrides the configuration)")
	fs.BoolVar(&d.dev, "dev", false, "use the data of `kantorpos serve -dev` (./kantorpos-data)")
}

// load resolves the configuration: -config, $KANTORPOS_CONFIG or the
// system's file (see env.configPath). Without any, nor -data or -dev, a
// ./kantorpos-data made by `serve -dev` is used when there is one, so a
// newcomer's admin commands reach the server they just started.
func (d *dataFlags) load(e *env) (config.Config, error) {
	var c config.Config
	var err error
	path := ""
	if !d.dev {
		path = e.configPath(d.config)
	}
	switch {
	case path != "":
		c, err = config.Load(path)
	case d.dev:
		c = config.Dev()
	default:
		c = config.Default()
		if d.data == "" {
			if _, err := os.Stat(filepath.Join(config.Dev().DataDir, "kantorpos.db")); err == nil {
				c = config.Dev()
				fmt.Fprintf(e.stderr, "kantorpos: using the development data in ./%s\n", c.DataDir)
			}
		}
	}
	if err != nil {
		return c, err
	}
	if d.data != "" {
		c.DataDir = d.data
	}
	return c, nil
}

// openDataDir prepares an admin command to work on a data directory. It
// refuses one that does not exist: admin commands never create one (only
// serve does), so that a mistyped or missing -config cannot make a
// database that no server reads. Run as root, the command then acts as the
// directory's owner, so it leaves no file the server cannot read.
func openDataDir(c config.Config) error {
	fi, err := os.Stat(c.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s does not exist: name the server's configuration with -config FILE (or KANTORPOS_CONFIG), or start `kantorpos serve` once to create it", c.DataDir)
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s is not a directory", c.DataDir)
	}
	return becomeDataOwner(c.DataDir)
}

// openOps opens the store of a configuration for an admin command.
func openOps(ctx context.Context, e *env, c config.Config) (*admin.Ops, func(), error) {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := openDataDir(c); err != nil {
		return nil, nil, err
	}
	var blobs blob.Store // PostgreSQL: bodies are in the database
	if c.Storage.Driver != "postgres" {
		fs, err := blob.NewFS(filepath.Join(c.DataDir, "blobs"), 0)
		if err != nil {
			return nil, nil, err
		}
		blobs = fs
	}
	st, err := server.OpenStore(ctx, c, blobs, nil, log)
	if err != nil {
		return nil, nil, err
	}
	ops := &admin.Ops{Store: st, Hasher: auth.NewHasher(auth.DefaultParams), Log: log,
		NewDKIMKeys: admin.GenerateDKIMKeys, Published: admin.PublishedFromConfig(c), Resolver: dns.New(c.DNS.Server)}
	// Bouncing files a DSN for the sender: route it like the server would.
	inj := &localmail.Injector{Router: router.New(st, c.SMTP.Postmaster), Blobs: blobs, Deliverer: st}
	ops.Bouncer = queue.New(queue.Config{Hostname: c.Hostname, Owner: c.Hostname}, st, blobs, nil, inj, nil, log)
	return ops, func() { st.Close() }, nil
}
