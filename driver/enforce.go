package driver

import (
	"fmt"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// Enforcer applies the inbound SPD to cleartext packets the driver never
// sees: those the kernel delivers straight from the wire interface to
// local sockets (the driver reads only copies of them on raw sockets). It
// drops cleartext packets matching a block entry or a negotiate entry
// without InPass, and accepts the default exemptions of level, IPsec
// itself (ESP, AH, IKE, NAT-T), loopback and everything arriving on the
// TUN interface tunName, which is traffic the driver decapsulated and so
// already checked. Package driver/nft implements it with nftables.
//
// The Driver owns its Enforcer: it calls Apply from SetPolicy and
// SetExemptions, serialized, with the SPD just installed, and Close from
// Close. Apply must replace the previous rules atomically and leave them
// unchanged when it fails; Close removes every rule and is idempotent.
type Enforcer interface {
	Apply(spd *sadb.SPD, level sadb.ExemptLevel, tunName string) error
	Close() error
}

// enforce hands the current SPD and exemption level to the enforcer, if
// any, or the boot mode until the first SetPolicy (boot.go). The caller holds enforcer.mu, so that the kernel ends with the
// state stored last.
func (d *Driver) enforce() error {
	if d.enforcer.e == nil {
		return nil
	}
	if b := d.enforcer.boot; b != nil && !d.enforcer.policySet {
		be, ok := d.enforcer.e.(BootEnforcer)
		if !ok {
			return nil // BootPermit: SetBootMode checked
		}
		if err := be.ApplyBoot(b.mode, b.ex); err != nil {
			d.log.Error("boot mode not applied", "mode", b.mode, "err", err)
			return fmt.Errorf("driver: enforce boot mode %v: %w", b.mode, err)
		}
		return nil
	}
	if err := d.enforcer.e.Apply(d.spd.Load(), d.exempt.Load().level, d.enforcer.tunName); err != nil {
		d.log.Error("inbound enforcement not applied: cleartext traffic reaches local sockets unchecked", "err", err)
		return fmt.Errorf("driver: enforce policy: %w", err)
	}
	return nil
}
