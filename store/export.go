package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Export file format (`exportpolicy` / `importpolicy`).
//
// Windows writes a binary file; this project defines its own, a single JSON
// document, UTF-8, indented:
//
//	{
//	  "format": "gonetsh-ipsec-policy",
//	  "version": 1,
//	  "policies": [ Policy, ... ],
//	  "filterlists": [ FilterList, ... ],
//	  "filteractions": [ FilterAction, ... ]
//	}
//
// "format" identifies the file and must be exactly ExportFormat. "version" is
// ExportVersion; a reader rejects a missing version or one newer than it
// knows. The three arrays hold every object of the exported location, in
// store order, encoded with the JSON tags of model.go (the same encoding as
// the store file): GUIDs braced upper case, times RFC 3339 in UTC, rules
// inside their policy and referring to filter lists and filter actions by
// GUID, enums (actions, protocols, algorithms, address kinds) as their ipsec
// package numbers. Unknown fields are ignored, so a later version 1 writer
// may add fields.
//
// Import semantics: the objects of the file are added to the location as one
// change. An object whose GUID is already in the store replaces it (so
// importing a file twice, or re-importing an edited export, is idempotent);
// an object whose name is taken by an object with another GUID is a clash
// and fails the whole import with the kind's "already exists" error (05005,
// 05010, 05014). Filter lists and filter actions are merged before policies,
// so rules may refer to objects of the file or of the store. The file's
// assigned flags are ignored: a new policy arrives unassigned and a replaced
// one keeps the flag it had, so importing never changes which policy is
// active. Time stamps are kept as in the file.
const (
	ExportFormat  = "gonetsh-ipsec-policy"
	ExportVersion = 1
)

type exportFile struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	State
}

// Export writes every policy, filter list and filter action of loc to w in
// the export file format. A write error is CodeExportFile.
func (db *DB) Export(loc Location, w io.Writer) error {
	return db.View(loc, func(s *State) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(exportFile{Format: ExportFormat, Version: ExportVersion, State: *s}); err != nil {
			return WithCause(CodeExportFile, err)
		}
		return nil
	})
}

// Import reads an export file from r and merges it into loc (see the format
// comment for the rules). A read error is CodeImportFile, a file that is not
// an export file CodeInvalidImport; a clash or a broken reference fails with
// the store's usual codes and changes nothing.
func (db *DB) Import(loc Location, r io.Reader) error {
	if _, err := bucketName(loc); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return WithCause(CodeImportFile, err)
	}
	in, err := decodeExport(data)
	if err != nil {
		return err
	}
	return db.Update(loc, func(s *State) error { return s.merge(&in) })
}

func decodeExport(data []byte) (State, error) {
	var f exportFile
	if err := json.Unmarshal(data, &f); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return State{}, NewError(CodeInvalidImport, fmt.Sprintf("JSON syntax error at byte %d", syn.Offset))
		}
		return State{}, NewError(CodeInvalidImport, err.Error())
	}
	switch {
	case f.Format != ExportFormat:
		return State{}, NewError(CodeInvalidImport, fmt.Sprintf("format is %q, not %q", f.Format, ExportFormat))
	case f.Version == 0:
		return State{}, NewError(CodeInvalidImport, "it has no version")
	case f.Version > ExportVersion:
		return State{}, NewError(CodeInvalidImport,
			fmt.Sprintf("version %d is newer than this program's %d", f.Version, ExportVersion))
	}
	return f.State, nil
}

// merge adds or replaces the objects of in, all or nothing. in is not
// modified (the callback may be replayed in batch mode).
func (s *State) merge(in *State) error {
	c := s.Clone()
	for _, l := range in.FilterLists {
		l = cloneFilterList(l)
		if l.GUID == "" {
			return NewError(CodeInvalidImport, fmt.Sprintf("filter list %q has no GUID", l.Name))
		}
		i := c.filterListIndexGUID(l.GUID)
		if err := c.validateFilterList(&l, i); err != nil {
			return err
		}
		if i < 0 {
			c.FilterLists = append(c.FilterLists, l)
		} else {
			l.GUID = c.FilterLists[i].GUID
			c.FilterLists[i] = l
		}
	}
	for _, a := range in.FilterActions {
		a = cloneFilterAction(a)
		if a.GUID == "" {
			return NewError(CodeInvalidImport, fmt.Sprintf("filter action %q has no GUID", a.Name))
		}
		normFilterAction(&a)
		i := c.filterActionIndexGUID(a.GUID)
		if err := c.validateFilterAction(&a, i); err != nil {
			return err
		}
		if i < 0 {
			c.FilterActions = append(c.FilterActions, a)
		} else {
			a.GUID = c.FilterActions[i].GUID
			c.FilterActions[i] = a
		}
	}
	for _, p := range in.Policies {
		p = clonePolicy(p)
		if p.GUID == "" || p.DefaultRule.GUID == "" {
			return NewError(CodeInvalidImport, fmt.Sprintf("policy %q or its default rule has no GUID", p.Name))
		}
		normPolicy(&p)
		i := c.policyIndexGUID(p.GUID)
		p.Assigned = i >= 0 && c.Policies[i].Assigned
		if err := c.validatePolicy(&p, i); err != nil {
			return err
		}
		if i < 0 {
			c.Policies = append(c.Policies, p)
		} else {
			p.GUID = c.Policies[i].GUID
			c.Policies[i] = p
		}
	}
	c.env = s.env
	*s = c
	s.changed()
	return nil
}
