package store

import (
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"strings"
)

// RandomGUID returns a new version 4 GUID from crypto/rand, braced and upper
// case. It is the default GUID source of Open.
func RandomGUID() GUID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics internally instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// Equal reports whether g and o name the same GUID; hex digits compare
// case-insensitively because users type GUIDs in either case. (No non-ASCII
// letter folds to a hex digit, so strings of different lengths differ.)
func (g GUID) Equal(o GUID) bool {
	return len(g) == len(o) && strings.EqualFold(string(g), string(o))
}

// derivedGUID is a name-based (version 5 style) GUID: fixed for a given name,
// used for built-in objects that have no well-known GUID.
func derivedGUID(name string) GUID {
	sum := sha1.Sum([]byte("gonetsh builtin object\x00" + name))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func formatGUID(b [16]byte) GUID {
	return GUID(fmt.Sprintf("{%08X-%04X-%04X-%04X-%012X}",
		b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}
