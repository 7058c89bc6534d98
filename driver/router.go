package driver

import (
	"fmt"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// Router steers the traffic the policy covers into the TUN device (with
// policy routing, so that the driver's own packets still leave on the
// wire). Package driver/route implements it.
//
// The Driver owns its Router: it calls Apply from SetPolicy, serialized
// with the Enforcer, with the SPD just installed and the TUN device's
// name, and Close from Close. Apply replaces the previous routes without
// unrouting a destination both sets have; Close removes every route and
// rule and is idempotent.
type Router interface {
	Apply(spd *sadb.SPD, tunName string) error
	Close() error
}

// route hands the current SPD to the router, if any. The caller holds
// enforcer.mu.
func (d *Driver) route() error {
	if d.router == nil {
		return nil
	}
	if err := d.router.Apply(d.spd.Load(), d.enforcer.tunName); err != nil {
		d.log.Error("routes not applied: protected traffic may leave in clear or not at all", "err", err)
		return fmt.Errorf("driver: route policy: %w", err)
	}
	return nil
}
