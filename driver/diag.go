package driver

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Drop event classes of `set config ipsecdiagnostics` (reference 3.7,
// 4.4). The value 0-7 is a bit mask of these; the Windows Server 2003
// driver's levels are not documented in a form that maps one to one, so
// gonetsh defines the bits (README, "set config"):
const (
	// DiagSecurity: inbound IPsec failures: bad SPI, not decrypted, not
	// authenticated, replay, malformed ESP/AH, selector mismatch, expired
	// SA.
	DiagSecurity uint8 = 1 << iota
	// DiagPolicy: packets the policy drops: block filters both ways and
	// cleartext for a negotiate filter.
	DiagPolicy
	// DiagOutbound: packets lost on the way out: acquire queue overflow
	// and time-out, seal failures, wire and TUN write errors.
	DiagOutbound
)

// SetDiagnostics sets the ipsecdiagnostics mask: each dropped packet of an
// enabled class is logged at level Warn with its reason; the others only
// at Debug, as before. 0 (the default) logs none at Warn.
func (d *Driver) SetDiagnostics(mask uint8) { d.diag.Store(uint32(mask & 7)) }

// class returns the diagnostics class of a drop counted on c.
func (d *Driver) class(c *atomic.Uint64) uint8 {
	s := &d.stats
	switch c {
	case &s.BlockedInbound, &s.BlockedOutbound, &s.ClearNegotiateDrops:
		return DiagPolicy
	case &s.AcquireQueueDrops, &s.AcquireTimeoutDrops, &s.SealFailures, &s.SendErrors, &s.TUNWriteErrors:
		return DiagOutbound
	}
	return DiagSecurity
}

// drop counts a dropped packet on c and logs it: at Warn when its class
// is enabled by SetDiagnostics, else at Debug. The record is built only
// when it is logged, so that the data path does not allocate.
func (d *Driver) drop(c *atomic.Uint64, reason string, err error) {
	c.Add(1)
	if m := uint8(d.diag.Load()); m != 0 && m&d.class(c) != 0 {
		d.log.Warn("packet dropped", "reason", reason, "err", err)
		return
	}
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug("packet dropped", "reason", reason, "err", err)
	}
}
