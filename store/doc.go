// Package store holds the typed IPsec policy model of `netsh ipsec static`
// (model.go), the operations that keep its invariants (ops.go), the Windows
// built-in objects (builtin.go), the coded errors the shell prints
// (errors.go), persistence in a bbolt file with batch mode (db.go) and the
// export file format (export.go).
//
// The grammar converts netsh text to these types; the shell calls DB.View
// and DB.Update with callbacks that use the State methods. store imports
// only package ipsec, the standard library and bbolt.
package store
