package grammar

import (
	"testing"
)

// FuzzParse checks that no input line makes Parse or Complete panic, in any
// context, and that every error is a positioned *Error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`add policy Policy1 mmpfs= yes assign=yes mmsec="3DES-SHA1-3 DES-MD5-3 3DES-MD5-2"`,
		`add rule name=Rule policy=Policy filterlist=L filteraction=A kerberos=yes psk="my key" rootca="C=US,CN=\'x\' certmap:yes"`,
		`add filter filterlist=Filter1 192.145.168.0 192.145.168.45 srcmask=24 dstmask=32`,
		`add filteraction name=FilterA qmpfs=yes soft=y action=negotiate qmsec="AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s"`,
		`del rule all ipsec_base_config`, `= = =`, `"unterminated`, `name =`, `ipsec static ?`, `pushd ipsec static`,
	} {
		f.Add(0, s)
	}
	g := New()
	ctxs := []*Context{g.Root, g.Root.Lookup("ipsec"), g.Root.Lookup("ipsec", "static"), g.Root.Lookup("ipsec", "dynamic")}
	f.Fuzz(func(t *testing.T, c int, line string) {
		ctx := ctxs[uint(c)%uint(len(ctxs))]
		_, err := g.Parse(ctx, line)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			_ = err.Error()
		}
		g.Complete(ctx, line, nil)
	})
}
