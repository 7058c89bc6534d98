package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/gonetsh/gonetsh/driver"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/nft"
	"github.com/gonetsh/gonetsh/driver/route"
	"github.com/gonetsh/gonetsh/driver/tun"
)

// Defaults of Config.
const (
	DefaultTUN = "gonetsh0"
	// DefaultMTU leaves room for the largest ESP overhead in UDP (outer
	// IPv4 20, UDP 8, ESP header 8, IV 16, padding up to 17, ICV 16)
	// under a 1500-byte wire MTU.
	DefaultMTU = 1400
	// DefaultMark is the SO_MARK of the driver's own sockets ("gn"), by
	// which policy routing sends them to the wire and not back into the
	// TUN device.
	DefaultMark = 0x676e
)

// Config is what Open needs; the zero value takes the defaults and
// programs kernel rules (nftables).
type Config struct {
	TUN       string
	MTU       int
	Mark      uint32
	NoEnforce bool // no nftables rules (tests of the plane alone)
	Logger    *slog.Logger
}

// Service is the data plane of `netsh service`: a TUN device, the wire
// sockets (UDP 4500, raw ESP/AH), the kernel rules, the driver over them
// and the IKE socket, all in the network namespace of the thread that
// called Open.
type Service struct {
	*Plane
	Driver *driver.Driver
	TUN    string
	mark   uint32
}

// Open creates the data plane. Nothing moves until Start.
func Open(cfg Config) (*Service, error) {
	if cfg.TUN == "" {
		cfg.TUN = DefaultTUN
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Mark == 0 {
		cfg.Mark = DefaultMark
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dev, err := tun.Create(cfg.TUN, cfg.MTU)
	if err != nil {
		return nil, err
	}
	w, err := conn.NewLinux(conn.LinuxConfig{Local: netip.IPv4Unspecified(), Mark: cfg.Mark})
	if err != nil {
		dev.Close()
		return nil, err
	}
	dc := driver.Config{TUN: dev, Wire: w, Logger: log}
	fail := func(err error) (*Service, error) {
		dev.Close()
		w.Close()
		if dc.Enforcer != nil {
			dc.Enforcer.Close()
		}
		if dc.Router != nil {
			dc.Router.Close()
		}
		return nil, err
	}
	if !cfg.NoEnforce {
		e, err := nft.New(nft.Config{})
		if err != nil {
			return fail(err)
		}
		dc.Enforcer = e
	}
	r, err := route.New(route.Config{Mark: cfg.Mark})
	if err != nil {
		return fail(err)
	}
	dc.Router = r
	p := New(log)
	p.Hooks(&dc)
	d, err := driver.New(dc)
	if err != nil {
		return fail(err)
	}
	p.AttachDriver(d)
	return &Service{Plane: p, Driver: d, TUN: cfg.TUN, mark: cfg.Mark}, nil
}

// Start starts the driver and opens the IKE socket on UDP 500.
func (s *Service) Start() error {
	if err := s.Driver.Start(); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	return s.ListenIKE(PortIKE, s.mark)
}

// Close stops the IKE socket and the driver, which removes its kernel
// rules and the TUN device.
func (s *Service) Close() error {
	return errors.Join(s.Plane.Close(), s.Driver.Close())
}
