// Command esptun is the gonetsh end of bench/throughput.sh: one tunnel
// gateway (a TUN device, the Linux wire and a driver) with a mirrored
// negotiate policy between two prefixes and two hand-keyed ESP SAs in
// tunnel mode, as driver/netns_test.go installs them. It runs in the
// network namespace it is started in until SIGINT or SIGTERM.
//
// The keys derive from the SPIs: this is a benchmark, not a VPN.
//
//	esptun -tun gnt0 -local 10.99.0.1 -peer 10.99.0.2 \
//	    -net-local 10.1.0.0/24 -net-peer 10.2.0.0/24 \
//	    -spi-out 0x1001 -spi-in 0x1002 -suite gcm128
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/gonetsh/gonetsh/driver"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun"
	"github.com/gonetsh/gonetsh/ipsec"
)

// suites are the transforms the benchmark compares.
var suites = map[string]struct {
	cipher ipsec.Cipher
	hash   ipsec.Hash
}{
	"gcm128":      {ipsec.CipherAESGCM128, ipsec.HashNone},
	"aes128-sha1": {ipsec.CipherAES128, ipsec.HashSHA1},
	"3des-sha1":   {ipsec.Cipher3DES, ipsec.HashSHA1},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "esptun:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		tunName  = flag.String("tun", "gnt0", "TUN interface name")
		mtu      = flag.Int("mtu", 1420, "TUN MTU")
		local    = flag.String("local", "", "this gateway's wire address")
		peer     = flag.String("peer", "", "the peer gateway's wire address")
		netLocal = flag.String("net-local", "", "the protected prefix behind this gateway")
		netPeer  = flag.String("net-peer", "", "the protected prefix behind the peer")
		spiOut   = flag.Uint("spi-out", 0x1001, "SPI of the outbound SA")
		spiIn    = flag.Uint("spi-in", 0x1002, "SPI of the inbound SA")
		suite    = flag.String("suite", "gcm128", "gcm128, aes128-sha1 or 3des-sha1")
		encap    = flag.Bool("udp", true, "UDP encapsulation on port 4500 (false: IP protocol 50)")
		offload  = flag.Bool("offload", true, "TUN with TSO/GRO (tun.CreateOffload) and UDP GSO/GRO on the wire; false: one packet per system call")
		profile  = flag.String("cpuprofile", "", "write a CPU profile to this file")
	)
	flag.Parse()
	s, ok := suites[*suite]
	if !ok {
		return fmt.Errorf("unknown suite %q", *suite)
	}
	la, err := netip.ParseAddr(*local)
	if err != nil {
		return err
	}
	pa, err := netip.ParseAddr(*peer)
	if err != nil {
		return err
	}
	nl, err := netip.ParsePrefix(*netLocal)
	if err != nil {
		return err
	}
	np, err := netip.ParsePrefix(*netPeer)
	if err != nil {
		return err
	}

	create := tun.Create
	if *offload {
		create = tun.CreateOffload
	}
	dev, err := create(*tunName, *mtu)
	if err != nil {
		return err
	}
	w, err := conn.NewLinux(conn.LinuxConfig{Local: la, NoOffload: !*offload})
	if err != nil {
		dev.Close()
		return err
	}
	d, err := driver.New(driver.Config{
		TUN: dev, Wire: w,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		dev.Close()
		w.Close()
		return err
	}
	defer d.Close()

	const entry = 1
	spd, err := sadb.Compile([]sadb.Entry{
		{ID: entry, Action: ipsec.ActionNegotiate, Tunnel: pa, Selector: sadb.Selector{Dir: sadb.Outbound, Src: nl, Dst: np}},
		{ID: entry, Action: ipsec.ActionNegotiate, Tunnel: pa, Selector: sadb.Selector{Dir: sadb.Inbound, Src: np, Dst: nl}},
	})
	if err != nil {
		return err
	}
	if err := d.SetPolicy(spd); err != nil {
		return err
	}
	params := func(spi uint32, src netip.Addr) driver.SAParams {
		return driver.SAParams{
			Protocol: driver.ProtocolESP, Mode: driver.ModeTunnel,
			Cipher: s.cipher, Hash: s.hash,
			EncKey:  key(spi, esp.EncKeyLen(s.cipher)),
			AuthKey: key(spi^0xffff, esp.AuthKeyLen(s.hash)),
			Local:   src, Encap: *encap, Ref: entry,
		}
	}
	if err := d.AddSA(sadb.ID{Dir: sadb.Outbound, SPI: uint32(*spiOut), Dst: pa}, params(uint32(*spiOut), la)); err != nil {
		return err
	}
	if err := d.AddSA(sadb.ID{Dir: sadb.Inbound, SPI: uint32(*spiIn), Dst: la}, params(uint32(*spiIn), netip.Addr{})); err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := d.Start(); err != nil {
		return err
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

// key returns n key bytes derived from spi.
func key(spi uint32, n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = byte(spi>>(8*(i%4))) ^ byte(i*37+11)
	}
	return k
}
