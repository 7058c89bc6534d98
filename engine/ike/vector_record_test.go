//go:build linux

package ike

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordEnv names a directory: TestCharonRecordVectors then writes the
// key derivation of a main mode with charon as testdata: the inputs as
// our side knows them, the outputs as charon's level-4 log prints them.
const recordEnv = "GONETSH_RECORD_VECTORS"

// charonDump returns the hex of the dump that follows the first log line
// containing label.
func charonDump(log, label string) string {
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if !strings.Contains(l, label) {
			continue
		}
		var b strings.Builder
		for _, h := range lines[i+1:] {
			// "<peer|1>  112: 19 D4 ...": a decimal offset after the
			// prefix.
			j := strings.Index(h, ": ")
			k := strings.LastIndex(h[:max(j, 0)], "> ")
			if j < 0 || k < 0 || strings.Trim(h[k+2:j], " 0123456789") != "" {
				break
			}
			hexPart, _, _ := strings.Cut(h[j+2:], "  ")
			b.WriteString(strings.ToLower(strings.ReplaceAll(hexPart, " ", "")))
		}
		return b.String()
	}
	return ""
}

func TestCharonRecordVectors(t *testing.T) {
	dir := os.Getenv(recordEnv)
	if dir == "" {
		t.Skip("set " + recordEnv + " to record key derivation vectors from charon")
	}
	for _, s := range interopSuites {
		t.Run(s.name, func(t *testing.T) {
			it := startInterop(t, s)
			it.acquire(1)
			it.check(t, s, true)
			it.n.mu.Lock()
			var v keyVector
			for _, mm := range it.n.mms {
				v = keyVector{Suite: s.name, Cipher: mm.offer.Cipher.String(), Hash: mm.offer.Hash.String(),
					PSK: hexs([]byte(interopPSK)), Ni: hexs(mm.ni), Nr: hexs(mm.nr), CookieI: hexs(mm.ckyI[:]), CookieR: hexs(mm.ckyR[:]),
					GXI: hexs(mm.gxi), GXR: hexs(mm.gxr)}
			}
			it.n.mu.Unlock()
			log := it.peer.Log()
			v.GXY = charonDump(log, "shared Diffie Hellman secret")
			v.SKEYID = charonDump(log, "SKEYID =>")
			v.SKEYIDd = charonDump(log, "SKEYID_d =>")
			v.SKEYIDa = charonDump(log, "SKEYID_a =>")
			v.SKEYIDe = charonDump(log, "SKEYID_e =>")
			v.Ka = charonDump(log, "encryption key Ka =>")
			v.IV = charonDump(log, "initial IV =>")
			if v.SKEYID == "" || v.GXY == "" || v.Ka == "" {
				t.Fatalf("charon's log lacks keys: %+v", v)
			}
			b, _ := json.MarshalIndent(v, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, "charon-"+s.name+".json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
