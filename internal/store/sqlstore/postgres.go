package sqlstore

import (
	"errors"
)

// openPostgres opens the PostgreSQL dialect (cluster mode).
func (s *Store) openPostgres(o Options) error {
	return errors.New("sqlstore: the postgres driver is not built yet")
}
