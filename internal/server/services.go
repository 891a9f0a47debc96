package server

import (
	"context"
)

// serviceDef is one listener of the configuration and how to build its
// service. Protocol services register here as they are built.
type serviceDef struct {
	name string
	addr string
	make func() (service, error)
}

// services lists the listeners of the configuration.
func (s *Server) services() []serviceDef {
	return nil
}

type worker struct {
	name string
	run  func(ctx context.Context) error
}

// workerList lists the background workers (the queue runner...).
func (s *Server) workerList() []worker {
	return nil
}
