//go:build linux

package charontest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// IKESA is one IKE SA as charon lists it (vici "list-sa" events, the data
// behind `swanctl --list-sas`).
type IKESA struct {
	Name     string // connection name
	UniqueID uint32
	Version  int
	State    string // "CONNECTING", "ESTABLISHED", "DELETING", ...
	// Local and remote endpoints and identities.
	LocalHost, RemoteHost string
	LocalPort, RemotePort int
	LocalID, RemoteID     string
	Initiator             bool
	// SPIs (IKEv1 cookies), hex as charon prints them.
	InitiatorSPI, ResponderSPI string
	// NAT state: this end behind NAT, the peer behind NAT, faked
	// (kernel-libipsec always fakes it), any of these.
	NATLocal, NATRemote, NATFake, NATAny bool
	// Negotiated algorithms ("3DES_CBC", "HMAC_SHA1_96", "PRF_HMAC_SHA1",
	// "MODP_1024"); EncrKeySize is 0 for fixed-size ciphers.
	EncrAlg     string
	EncrKeySize int
	IntegAlg    string
	PRFAlg      string
	DHGroup     string
	// Established is the age of the SA in seconds.
	Established int
	Children    []ChildSA
}

// ChildSA is one CHILD_SA (a pair of ESP SAs) of an IKE SA.
type ChildSA struct {
	Name     string // child config name
	UniqueID uint32
	ReqID    uint32
	State    string // "INSTALLED", "REKEYED", ...
	Mode     string // "TUNNEL"
	Protocol string // "ESP"
	Encap    bool   // ESP in UDP
	// SPIIn is the inbound SPI (chosen by this end), SPIOut the outbound.
	SPIIn, SPIOut uint32
	EncrAlg       string
	EncrKeySize   int
	IntegAlg      string
	DHGroup       string // PFS group, "" without PFS
	BytesIn       uint64
	PacketsIn     uint64
	BytesOut      uint64
	PacketsOut    uint64
	// Seconds until rekeying and hard expiry, and since installation.
	RekeyTime, LifeTime, InstallTime int
	LocalTS, RemoteTS                []string
}

// listTimeout bounds ListSAs.
const listTimeout = 10 * time.Second

// ListSAs returns charon's IKE SAs with their CHILD_SAs, in charon's
// order.
func (c *Charon) ListSAs() ([]IKESA, error) {
	_, events, err := c.call(listTimeout, "list-sas", "list-sa", []kv{{"noblock", "yes"}})
	if err != nil {
		return nil, err
	}
	var out []IKESA
	for _, ev := range events {
		for _, name := range ev.Keys {
			if s := ev.Sections[name]; s != nil {
				out = append(out, parseIKESA(name, s))
			}
		}
	}
	return out, nil
}

func parseIKESA(name string, m *Msg) IKESA {
	sa := IKESA{
		Name:         name,
		UniqueID:     uint32(atou(m.Get("uniqueid"), 10)),
		Version:      int(atou(m.Get("version"), 10)),
		State:        m.Get("state"),
		LocalHost:    m.Get("local-host"),
		LocalPort:    int(atou(m.Get("local-port"), 10)),
		LocalID:      m.Get("local-id"),
		RemoteHost:   m.Get("remote-host"),
		RemotePort:   int(atou(m.Get("remote-port"), 10)),
		RemoteID:     m.Get("remote-id"),
		Initiator:    m.Get("initiator") == "yes",
		InitiatorSPI: m.Get("initiator-spi"),
		ResponderSPI: m.Get("responder-spi"),
		NATLocal:     m.Get("nat-local") == "yes",
		NATRemote:    m.Get("nat-remote") == "yes",
		NATFake:      m.Get("nat-fake") == "yes",
		NATAny:       m.Get("nat-any") == "yes",
		EncrAlg:      m.Get("encr-alg"),
		EncrKeySize:  int(atou(m.Get("encr-keysize"), 10)),
		IntegAlg:     m.Get("integ-alg"),
		PRFAlg:       m.Get("prf-alg"),
		DHGroup:      m.Get("dh-group"),
		Established:  int(atou(m.Get("established"), 10)),
	}
	if cs := m.Sections["child-sas"]; cs != nil {
		for _, k := range cs.Keys {
			if s := cs.Sections[k]; s != nil {
				sa.Children = append(sa.Children, parseChildSA(s))
			}
		}
	}
	return sa
}

func parseChildSA(m *Msg) ChildSA {
	return ChildSA{
		Name:        m.Get("name"),
		UniqueID:    uint32(atou(m.Get("uniqueid"), 10)),
		ReqID:       uint32(atou(m.Get("reqid"), 10)),
		State:       m.Get("state"),
		Mode:        m.Get("mode"),
		Protocol:    m.Get("protocol"),
		Encap:       m.Get("encap") == "yes",
		SPIIn:       uint32(atou(m.Get("spi-in"), 16)),
		SPIOut:      uint32(atou(m.Get("spi-out"), 16)),
		EncrAlg:     m.Get("encr-alg"),
		EncrKeySize: int(atou(m.Get("encr-keysize"), 10)),
		IntegAlg:    m.Get("integ-alg"),
		DHGroup:     m.Get("dh-group"),
		BytesIn:     atou(m.Get("bytes-in"), 10),
		PacketsIn:   atou(m.Get("packets-in"), 10),
		BytesOut:    atou(m.Get("bytes-out"), 10),
		PacketsOut:  atou(m.Get("packets-out"), 10),
		RekeyTime:   int(atou(m.Get("rekey-time"), 10)),
		LifeTime:    int(atou(m.Get("life-time"), 10)),
		InstallTime: int(atou(m.Get("install-time"), 10)),
		LocalTS:     m.Lists["local-ts"],
		RemoteTS:    m.Lists["remote-ts"],
	}
}

// atou parses an unsigned number, 0 when absent or malformed.
func atou(s string, base int) uint64 {
	v, _ := strconv.ParseUint(s, base, 64)
	return v
}

// WaitChildSA polls ListSAs until an ESTABLISHED IKE SA of connection ike
// has an INSTALLED CHILD_SA named child, and returns both. After timeout
// it returns ErrNoSA with what charon listed last.
func (c *Charon) WaitChildSA(ike, child string, timeout time.Duration) (IKESA, ChildSA, error) {
	deadline := time.Now().Add(timeout)
	for {
		sas, err := c.ListSAs()
		if err != nil {
			return IKESA{}, ChildSA{}, err
		}
		for _, sa := range sas {
			if sa.Name != ike || sa.State != "ESTABLISHED" {
				continue
			}
			for _, ch := range sa.Children {
				if ch.Name == child && ch.State == "INSTALLED" {
					return sa, ch, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return IKESA{}, ChildSA{}, fmt.Errorf("%w: no INSTALLED %s/%s after %v; SAs: %+v", ErrNoSA, ike, child, timeout, sas)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
