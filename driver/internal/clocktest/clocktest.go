// Package clocktest is the injected clock of the driver's tests: it moves
// only when told, and is safe for concurrent use.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a fake clock starting at a fixed instant.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock at 2003-04-24 12:00:00 UTC.
func New() *Clock {
	return &Clock{now: time.Date(2003, 4, 24, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
