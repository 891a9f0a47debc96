package server

import (
	"context"
	"crypto/tls"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/localmail"
	"github.com/kantorpos/kantorpos/internal/queue"
	"github.com/kantorpos/kantorpos/internal/sieve/filter"
	"github.com/kantorpos/kantorpos/internal/smtpserver"
	"github.com/kantorpos/kantorpos/internal/store"
)

// buildQueue makes the outbound transport, the injector of generated mail
// and the queue runner.
func (s *Server) buildQueue() error {
	c := s.Config
	routes := delivery.Routes{Domains: map[string]delivery.Route{}}
	if c.Relay.Host != "" {
		r := route(config.RelayRoute{Host: c.Relay.Host, Port: c.Relay.Port, Mode: c.Relay.Mode,
			Username: c.Relay.Username, Password: c.Relay.Password, SkipVerify: c.Relay.SkipVerify})
		routes.Default = &r
	}
	for _, rr := range c.Relay.Routes {
		routes.Domains[rr.Domain] = route(rr)
	}
	tr, err := delivery.New(delivery.Config{
		Resolver:        s.Resolver,
		Hostname:        c.Hostname,
		Port:            c.Queue.Port,
		TLSConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		MaxConnsPerHost: c.Queue.MaxConnsPerHost,
		Routes:          routes,
		Log:             s.Log.With("component", "delivery"),
		Clock:           s.Clock,
	})
	if err != nil {
		return err
	}
	s.Transport = tr
	// Users' Sieve scripts run on every local delivery, also of the mail we
	// write ourselves (DSNs, vacation replies); their replies go out
	// through the injector.
	s.Filter = &filter.Filter{Events: s.Events, Store: s.Store, Blobs: s.Blobs, Router: s.Router, SRS: s.SRS, Hostname: c.Hostname,
		Clock: s.Clock, Log: s.Log.With("component", "sieve")}
	s.Injector = &localmail.Injector{Router: s.Router, Blobs: s.Blobs, Deliverer: s.Filter, Clock: s.Clock}
	s.Filter.Replies = s.Injector
	s.Queue = queue.New(queue.Config{
		Events:        s.Events,
		Hostname:      c.Hostname,
		RetryInterval: c.Queue.RetryInterval.D(),
		MaxAge:        c.Queue.MaxAge.D(),
		DelayWarning:  c.Queue.DelayWarning.D(),
		Workers:       c.Queue.Workers,
		Owner:         c.Hostname,
	}, s.Store, s.Blobs, tr, s.Injector, s.Clock, s.Log.With("component", "queue"))
	s.Injector.Kick = s.Queue.Kick
	return nil
}

func route(r config.RelayRoute) delivery.Route {
	return delivery.Route{Host: r.Host, Port: r.Port, Mode: delivery.Mode(r.Mode), Username: r.Username,
		Password: r.Password, SkipVerify: r.SkipVerify}
}

// kickingDeliverer starts delivery at once when a message was queued.
type kickingDeliverer struct {
	store.Deliverer
	kick func()
}

func (k kickingDeliverer) Deliver(ctx context.Context, d *store.Delivery) (store.DeliveryResult, error) {
	res, err := k.Deliverer.Deliver(ctx, d)
	if err == nil && len(res.QueueIDs) > 0 {
		k.kick()
	}
	return res, err
}

var _ smtpserver.Deliverer = kickingDeliverer{}
