package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gonetsh/gonetsh/cmd/netsh/internal/dataplane"
	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/ike"
)

// dataplaneWiring returns the service's wiring for --dataplane mode: with
// "on", or "auto"/"" as root, the service opens the data path (TUN device,
// wire sockets, kernel rules, routes) and the IKE negotiator in its
// network namespace; otherwise it serves the SPD only. The negotiator's
// certificate identity and trusted CAs are read from <storeDir>/certs
// (ike.CertConfig.Dir) when that directory exists.
func dataplaneWiring(mode, storeDir string) *wiring {
	if mode == "off" || mode != "on" && os.Geteuid() != 0 {
		return nil
	}
	var (
		svc *dataplane.Service
		neg *ike.Negotiator
	)
	w := &wiring{}
	w.Options = func(o *engine.Options, log *slog.Logger) error {
		var err error
		svc, err = dataplane.Open(dataplane.Config{Logger: log})
		if err != nil {
			return err
		}
		o.DataPath = svc.Plane
		var certs ike.CertConfig
		if d := filepath.Join(storeDir, "certs"); isDir(d) {
			certs.Dir = d
		}
		o.NewNegotiator = func(pol ike.Policy, ikeLog io.Writer) engine.Negotiator {
			neg, err = ike.New(ike.Config{
				Kernel:       svc.Plane,
				Policy:       pol,
				Transport:    svc.Plane,
				Logger:       log.With("sub", "ike"),
				ExchangeLog:  ikeLog,
				Certificates: certs,
			})
			if err != nil {
				log.Error("IKE negotiator", "err", err)
				return nil
			}
			svc.AttachNegotiator(neg)
			return neg
		}
		return nil
	}
	w.Attach = func(eng *engine.Engine) error {
		if neg == nil {
			return errors.New("no IKE negotiator")
		}
		svc.AttachAcquirer(eng)
		if err := svc.Start(); err != nil {
			return fmt.Errorf("data path: %w", err)
		}
		neg.Start()
		return nil
	}
	w.Close = func() {
		if neg != nil {
			neg.Close()
		}
		if svc != nil {
			svc.Close()
		}
	}
	return w
}

var _ engine.Negotiator = (*ike.Negotiator)(nil)

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
