package driver

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// BootEnforcer is an Enforcer that also enforces the boot mode (reference
// section 3.7): what the host does with traffic from start-up until the
// first policy. Before a policy nothing is routed into the TUN device, so
// boot mode lives entirely in the kernel. Package driver/nft implements
// it.
//
// ApplyBoot replaces whatever rules the enforcer has with those of mode:
// BootBlock drops everything in both directions but loopback, DHCP and the
// exemptions; BootStateful lets out everything and lets in only the
// packets of connections the host started (conntrack established or
// related), DHCP and the exemptions; BootPermit removes every rule. The
// exemptions are mirrored (sadb.BootExemption). Like Apply it must be
// atomic and leave the rules unchanged on error; the Apply that follows
// replaces the boot rules atomically too. Boot mode, like the policy,
// covers IPv4 only.
type BootEnforcer interface {
	Enforcer
	ApplyBoot(mode sadb.BootMode, ex []sadb.BootExemption) error
}

// ErrBootOver is returned by SetBootMode once a policy has been set.
var ErrBootOver = errors.New("driver: boot mode is over: a policy has been set")

// bootState is the boot mode set by SetBootMode.
type bootState struct {
	mode sadb.BootMode
	ex   []sadb.BootExemption
}

// SetBootMode enforces mode, with the exemptions ex, until the first
// SetPolicy; the slice is copied. It is meant to be called once, right
// after New and before the engine's first SetPolicy; calling it again
// replaces the boot rules, and calling it after a SetPolicy fails with
// ErrBootOver and changes nothing: boot mode never comes back while the
// Driver lives (a restart of the service makes a new Driver).
//
// The first SetPolicy lifts boot mode whatever policy it brings (nil
// included): the Enforcer replaces the boot rules by the policy's in one
// transaction. If that Apply fails, the boot rules stay in the kernel,
// which fails closed; SetPolicy returns the error as always.
//
// SetExemptions in boot mode keeps the boot rules (the ipsecexempt level
// takes effect with the policy). BootBlock and BootStateful need a
// Config.Enforcer that implements BootEnforcer and fail with ErrConfig
// without one; BootPermit needs none. The Enforcer's error is returned,
// and logged, as by SetPolicy.
func (d *Driver) SetBootMode(mode sadb.BootMode, ex []sadb.BootExemption) error {
	if !mode.Valid() {
		return fmt.Errorf("%w: boot mode %v", ErrConfig, mode)
	}
	for _, x := range ex {
		if err := sadb.ValidateBootExemption(x); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	d.enforcer.mu.Lock()
	defer d.enforcer.mu.Unlock()
	if d.enforcer.policySet {
		return ErrBootOver
	}
	if _, ok := d.enforcer.e.(BootEnforcer); !ok && mode != sadb.BootPermit {
		return fmt.Errorf("%w: boot mode %v needs an Enforcer with ApplyBoot", ErrConfig, mode)
	}
	d.enforcer.boot = &bootState{mode: mode, ex: slices.Clone(ex)}
	return d.enforce()
}

// BootMode returns the boot mode in force and true, or false once a
// policy has been set or when SetBootMode was never called.
func (d *Driver) BootMode() (sadb.BootMode, bool) {
	d.enforcer.mu.Lock()
	defer d.enforcer.mu.Unlock()
	if b := d.enforcer.boot; b != nil && !d.enforcer.policySet {
		return b.mode, true
	}
	return 0, false
}
