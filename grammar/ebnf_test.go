package grammar

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestTokenEBNF pins the token level: a line is a sequence of these
// participle lexer tokens (Line = (Quoted | Eq | Word | WS)* .).
func TestTokenEBNF(t *testing.T) {
	got := "Line = (Quoted | Eq | Word | WS)* .\n"
	for _, r := range tokenRules {
		got += r.Name + " = /" + r.Pattern + "/ .\n"
	}
	if *update {
		require.NoError(t, os.WriteFile("testdata/tokens.ebnf", []byte(got), 0o644))
	}
	want, err := os.ReadFile("testdata/tokens.ebnf")
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}
