package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RunScript runs every line of r as if typed at the prompt: blank lines and
// lines starting with '#' are skipped, a failing line does not stop the
// script, and exit ends it. It reports whether every line succeeded. name
// labels the diagnostics written to Config.Err for failing lines.
func (s *Session) RunScript(r io.Reader, name string) bool {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	ok := true
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !s.Exec(line) {
			ok = false
			fmt.Fprintf(s.cfg.Err, "netsh: %s, line %d: %s\n", name, n, trimmed)
		}
		if s.exited {
			break
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(s.cfg.Out, "The file %s could not be read: %v\n", name, err)
		s.failed = true
		return false
	}
	return ok
}

func isScriptFailed(err error) bool { return errors.Is(err, errScriptFailed) }
