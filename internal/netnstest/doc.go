// Package netnstest builds throw-away networks for the driver's
// end-to-end tests on Linux: named network namespaces (as `ip netns add`
// makes them), veth pairs between them, addresses, routes and sysctls
// inside them, a way to run Go code in one (Do), and packet captures on
// their interfaces (AF_PACKET, in Go, no tcpdump).
//
// Everything a test creates is removed by t.Cleanup, also when the test
// fails; names carry the process ID so that parallel runs and the
// leftovers of a killed run do not clash. Nothing is created outside the
// test's namespaces, so traffic stays inside them.
//
// Tests call RequireRoot first: without root they skip, unless CI=true,
// where a missing privilege is a failure rather than a silent skip.
//
// It is test support: being internal to driver, only the driver's
// packages (and their tests) can import it.
package netnstest
