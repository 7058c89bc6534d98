package route

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// TestDestinations checks which entries get a route: outbound negotiate
// and block, not permit and not inbound; prefixes masked, sorted, once.
func TestDestinations(t *testing.T) {
	p := netip.MustParsePrefix
	entry := func(dir sadb.Direction, a ipsec.Action, dst string, proto ipsec.Protocol) sadb.Entry {
		e := sadb.Entry{Action: a, Selector: sadb.Selector{Dir: dir, Protocol: proto}}
		if dst != "" {
			e.Selector.Dst = p(dst)
		}
		return e
	}
	spd, err := sadb.Compile([]sadb.Entry{
		entry(sadb.Outbound, ipsec.ActionNegotiate, "10.2.0.7/24", ipsec.ProtoAny),
		entry(sadb.Outbound, ipsec.ActionNegotiate, "10.2.0.0/24", ipsec.ProtoTCP), // same prefix
		entry(sadb.Outbound, ipsec.ActionBlock, "192.0.2.1/32", ipsec.ProtoAny),
		entry(sadb.Outbound, ipsec.ActionPermit, "10.3.0.0/16", ipsec.ProtoAny),
		entry(sadb.Inbound, ipsec.ActionNegotiate, "10.4.0.0/16", ipsec.ProtoAny),
		entry(sadb.Outbound, ipsec.ActionNegotiate, "10.1.0.1/32", ipsec.ProtoICMP),
	})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{p("10.1.0.1/32"), p("10.2.0.0/24"), p("192.0.2.1/32")}, Destinations(spd))
	require.Empty(t, Destinations(nil))

	spd, err = sadb.Compile([]sadb.Entry{entry(sadb.Outbound, ipsec.ActionNegotiate, "", ipsec.ProtoAny)})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{p("0.0.0.0/0")}, Destinations(spd), "any destination: the default route")
}
