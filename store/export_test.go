package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

// populate adds one object of each kind, an assigned policy and a rule.
func populate(t *testing.T, db *DB, loc Location) {
	t.Helper()
	require.NoError(t, db.Update(loc, func(s *State) error {
		p := NewPolicy("Exported")
		p.Description = "with everything"
		p.Assigned = true
		if _, err := s.AddPolicy(p); err != nil {
			return err
		}
		f := NewFilter(ip("10.0.0.0"), ipsec.Address{Kind: ipsec.AddrDNSName, Name: "h.example", IP: ip("192.0.2.7").IP})
		f.SrcMask, f.Protocol, f.DstPort = 8, ipsec.ProtoTCP, 443
		if err := s.AddFilter("Web", f); err != nil {
			return err
		}
		a := NewFilterAction("Strong")
		a.QMPFS = true
		a.Offers = []ipsec.QMOffer{{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.CipherAES256, ESPAuth: ipsec.HashSHA256, LifeKB: 1000, LifeSec: 300}}
		if _, err := s.AddFilterAction(a); err != nil {
			return err
		}
		r := NewRule("R")
		r.Tunnel = ip("198.51.100.1")
		r.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: "C=US, CN=Root", CertMap: true, ExcludeCAName: true}, {Kind: ipsec.AuthPSK, PSK: "k"}}
		_, err := s.AddRule("Exported", "Web", "Strong", r)
		return err
	}))
}

func TestExportImportRoundTrip(t *testing.T) {
	src := openDB(t, t.TempDir(), 1)
	populate(t, src, Local)
	var buf bytes.Buffer
	require.NoError(t, src.Export(Local, &buf))

	var head map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf.Bytes(), &head))
	require.JSONEq(t, `"gonetsh-ipsec-policy"`, string(head["format"]))
	require.JSONEq(t, `1`, string(head["version"]))
	for _, k := range []string{"policies", "filterlists", "filteractions"} {
		require.Contains(t, head, k)
	}

	// Into an empty store: everything arrives, the policy unassigned.
	dst := openDB(t, t.TempDir(), 2)
	require.NoError(t, dst.Update(Persistent, func(s *State) error { s.DeleteAll(); return nil }))
	require.NoError(t, dst.Import(Persistent, bytes.NewReader(buf.Bytes())))
	want := snapshot(t, src, Local)
	for i := range want.Policies {
		want.Policies[i].Assigned = false
	}
	got := snapshot(t, dst, Persistent)
	require.Equal(t, want, got)
	requireInvariants(t, &got)

	// Importing again replaces by GUID: nothing doubles, nothing fails.
	require.NoError(t, dst.Import(Persistent, bytes.NewReader(buf.Bytes())))
	require.Equal(t, want, snapshot(t, dst, Persistent))

	// Into the source store itself (same GUIDs): nothing changes, the
	// assigned policy stays assigned.
	before := snapshot(t, src, Local)
	require.NoError(t, src.Import(Local, bytes.NewReader(buf.Bytes())))
	require.Equal(t, before, snapshot(t, src, Local))
	p, ok := before.AssignedPolicy()
	require.True(t, ok)
	require.Equal(t, "Exported", p.Name)
}

func TestImportReplacesRenamedObject(t *testing.T) {
	src := openDB(t, t.TempDir(), 1)
	populate(t, src, Local)
	var buf bytes.Buffer
	require.NoError(t, src.Export(Local, &buf))

	// Rename the list in the store; the file's version (same GUID) wins.
	require.NoError(t, src.Update(Local, func(s *State) error {
		l, err := s.FilterList("Web")
		if err != nil {
			return err
		}
		l.Name = "Renamed"
		l.Filters = nil
		return s.PutFilterList(l)
	}))
	require.NoError(t, src.Import(Local, &buf))
	st := snapshot(t, src, Local)
	l, err := st.FilterList("web")
	require.NoError(t, err)
	require.Len(t, l.Filters, 1)
	_, err = st.FilterList("Renamed")
	requireCode(t, err, CodeFilterListNotFound)
}

func TestImportClash(t *testing.T) {
	src := openDB(t, t.TempDir(), 1)
	populate(t, src, Local)
	var buf bytes.Buffer
	require.NoError(t, src.Export(Local, &buf))

	for _, tc := range []struct {
		name  string
		setup func(s *State) error
		code  int
	}{
		{"policy", func(s *State) error { _, err := s.AddPolicy(NewPolicy("EXPORTED")); return err }, CodePolicyExists},
		{"filter list", addList("web"), CodeFilterListExists},
		{"filter action", func(s *State) error { _, err := s.AddFilterAction(NewFilterAction("strong")); return err }, CodeFilterActionExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := openDB(t, t.TempDir(), 2) // other GUIDs
			require.NoError(t, dst.Update(Local, tc.setup))
			before := snapshot(t, dst, Local)
			n := seq(t, dst, Local)
			requireCode(t, dst.Import(Local, bytes.NewReader(buf.Bytes())), tc.code)
			require.Equal(t, before, snapshot(t, dst, Local), "all or nothing")
			require.Equal(t, n, seq(t, dst, Local))
		})
	}
}

func TestImportBadFiles(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	valid := func(mod func(m map[string]any)) string {
		m := map[string]any{"format": ExportFormat, "version": 1, "policies": []any{}, "filterlists": []any{}, "filteractions": []any{}}
		mod(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	for _, tc := range []struct {
		name, data, want string
		code             int
	}{
		{"not json", "\x00\x01binary MMC export", "syntax", CodeInvalidImport},
		{"truncated", `{"format":"gonetsh-ipsec-policy","version":1,"policies":[`, "", CodeInvalidImport},
		{"other format", valid(func(m map[string]any) { m["format"] = "ipsec" }), `"ipsec"`, CodeInvalidImport},
		{"no version", valid(func(m map[string]any) { delete(m, "version") }), "no version", CodeInvalidImport},
		{"future version", valid(func(m map[string]any) { m["version"] = 2 }), "version 2", CodeInvalidImport},
		{"wrong type", valid(func(m map[string]any) { m["policies"] = "x" }), "", CodeInvalidImport},
		{"no guid", valid(func(m map[string]any) { m["filterlists"] = []any{map[string]any{"name": "x"}} }), "no GUID", CodeInvalidImport},
		{"dangling rule", valid(func(m map[string]any) {
			m["policies"] = []any{map[string]any{"guid": "{P}", "name": "p",
				"defaultrule": map[string]any{"guid": "{D}", "default": true},
				"rules":       []any{map[string]any{"guid": "{R}", "id": 1, "filterlist": "{nope}", "filteraction": GUIDFilterActionPermit}}}}
		}), "{nope}", CodeGUIDNotFound},
		{"empty policy name", valid(func(m map[string]any) {
			m["policies"] = []any{map[string]any{"guid": "{P}", "defaultrule": map[string]any{"guid": "{D}"}}}
		}), "policy name", CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := requireCode(t, db.Import(Local, strings.NewReader(tc.data)), tc.code)
			require.Contains(t, e.Msg, tc.want)
			require.Zero(t, seq(t, db, Local))
		})
	}

	e := requireCode(t, db.Import(Local, iotest.ErrReader(errors.New("disk gone"))), CodeImportFile)
	require.Contains(t, e.Msg, "disk gone")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestExportWriteError(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	e := requireCode(t, db.Export(Local, failWriter{}), CodeExportFile)
	require.Contains(t, e.Msg, "disk full")
}

func TestImportInBatch(t *testing.T) {
	src := openDB(t, t.TempDir(), 1)
	populate(t, src, Local)
	var buf bytes.Buffer
	require.NoError(t, src.Export(Local, &buf))

	dst := openDB(t, t.TempDir(), 2)
	require.NoError(t, dst.BeginBatch(Local))
	require.NoError(t, dst.Import(Local, &buf))
	mem := snapshot(t, dst, Local)
	_, err := mem.Policy("Exported")
	require.NoError(t, err)
	require.Zero(t, seq(t, dst, Local))
	require.NoError(t, dst.Flush())
	require.Equal(t, mem, snapshot(t, dst, Local))
}
