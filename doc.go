// Package gonetsh is a netsh-compatible command-line shell for IPsec on
// Linux: the Windows Server 2003 `netsh ipsec static` and `netsh ipsec
// dynamic` grammar over a real policy store, engine and data path.
//
// The packages and the one-way import rules between them are listed in
// layout_test.go, which fails the build on a wrong arrow.
package gonetsh
