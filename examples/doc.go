// Package examples holds runnable netsh scripts (*.netsh) and the test that
// runs every one of them through a shell.Session on a temporary store. See
// README.md for the list; run one with `bin/netsh -f examples/<name>.netsh`.
package examples
