package shell_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Golden transcripts (testdata/golden/*.txt).
//
// A transcript is a header, then entries. The header is every line before
// the first entry (comments describing the file). An entry is one input
// line, written "> <line>" when the command must succeed and "!> <line>"
// when it must fail, followed by exactly what it printed on stdout, line
// by line (blank lines included), then "[stderr] <line>" for each line it
// wrote to the diagnostics stream. Each transcript runs in a new store
// (the built-in policies) and a new session at the root context; the
// files of testdata/scripts are copied into the directory where relative
// file names (exec, exportpolicy, importpolicy) resolve.
//
// Besides each entry's output and success, the runner checks that every
// output ends with a newline and that Session.Failed() is true exactly
// when some entry is expected to fail.
//
// The engine has a fake negotiator (enginetest.Negotiator) without SAs, except
// in the transcripts whose name starts with dynamic_sas, where it holds
// sampleMMSAs and sampleQMSAs from the start.
//
// go test ./shell -run TestGolden -update rewrites the outputs and the
// success markers from the current behaviour; review the diff.

const (
	okPrefix     = "> "
	failPrefix   = "!> "
	stderrPrefix = "[stderr] "
)

type entry struct {
	line   string
	fail   bool
	output string // stdout
	stderr string
}

type transcript struct {
	header  string
	entries []entry
}

func parseTranscript(t *testing.T, data string) transcript {
	t.Helper()
	var tr transcript
	var cur *entry
	if data == "" {
		return tr
	}
	for _, l := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, okPrefix), strings.HasPrefix(l, failPrefix):
			fail := strings.HasPrefix(l, failPrefix)
			line := strings.TrimPrefix(strings.TrimPrefix(l, failPrefix), okPrefix)
			tr.entries = append(tr.entries, entry{line: line, fail: fail})
			cur = &tr.entries[len(tr.entries)-1]
		case cur == nil:
			tr.header += l + "\n"
		case strings.HasPrefix(l, stderrPrefix):
			cur.stderr += strings.TrimPrefix(l, stderrPrefix) + "\n"
		default:
			require.Empty(t, cur.stderr, "stdout line after stderr lines in entry %q", cur.line)
			cur.output += l + "\n"
		}
	}
	return tr
}

func (tr transcript) String() string {
	var b strings.Builder
	b.WriteString(tr.header)
	for _, e := range tr.entries {
		if e.fail {
			b.WriteString(failPrefix)
		} else {
			b.WriteString(okPrefix)
		}
		b.WriteString(e.line + "\n")
		b.WriteString(e.output)
		for _, l := range strings.SplitAfter(e.stderr, "\n") {
			if l != "" {
				b.WriteString(stderrPrefix + l)
			}
		}
	}
	return b.String()
}

// copyScripts puts the files of testdata/scripts in the env's file
// directory.
func copyScripts(t *testing.T, e *env) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "scripts", "*"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		e.writeFile(filepath.Base(f), string(b))
	}
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			want := parseTranscript(t, string(data))
			require.NotEmpty(t, want.entries, "no entries in %s", file)

			e := newEnv(t)
			copyScripts(t, e)
			if strings.HasPrefix(filepath.Base(file), "dynamic_sas") {
				e.neg.Load(sampleMMSAs(), sampleQMSAs(),
					ipsec.IKEStats{IKEMainMode: 2, IKEQuickMode: 2, TotalAcquire: 1, KeyAdditions: 4})
			}
			got := transcript{header: want.header}
			anyFail := false
			for _, w := range want.entries {
				e.err.take()
				out, ok := e.exec(w.line)
				got.entries = append(got.entries, entry{line: w.line, fail: !ok, output: out, stderr: e.err.take()})
				anyFail = anyFail || !ok
				if out != "" {
					assert.True(t, strings.HasSuffix(out, "\n"), "output of %q does not end with a newline: %q", w.line, out)
				}
			}
			assert.Equal(t, anyFail, e.sess.Failed(), "Session.Failed()")
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(got.String()), 0o644))
				return
			}
			for i, w := range want.entries {
				g := got.entries[i]
				assert.Equal(t, w.fail, g.fail, "entry %d %q: failure", i+1, w.line)
				assert.Equal(t, w.output, g.output, "entry %d %q: output", i+1, w.line)
				assert.Equal(t, w.stderr, g.stderr, "entry %d %q: stderr", i+1, w.line)
			}
			// The file is exactly what the run would write: catches stray
			// edits that the parser tolerates.
			assert.Equal(t, string(data), got.String(), "transcript does not round-trip; run with -update and review")
		})
	}
}
