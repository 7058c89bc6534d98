package grammar

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestTokenEBNF pins the token-level grammar that participle builds.
func TestTokenEBNF(t *testing.T) {
	got := lineParser.String() + "\n"
	if *update {
		require.NoError(t, os.WriteFile("testdata/tokens.ebnf", []byte(got), 0o644))
	}
	want, err := os.ReadFile("testdata/tokens.ebnf")
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}
