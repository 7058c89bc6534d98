// Package interop holds gonetsh's end-to-end tests: `netsh service`
// processes in network namespaces negotiating with each other and with
// strongSwan's charon, with real traffic through their data paths. It
// has no code of its own outside its tests; they need root (and run under
// CI=true).
package interop
