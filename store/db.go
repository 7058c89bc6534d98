package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// On-disk layout. One bbolt file, <dir>/gonetsh.db, holds one bucket per
// location ("local", "persistent"). Each bucket has one key, "state", whose
// value is the location's State as JSON with a "version" field beside the
// State's own fields:
//
//	{"version":1,"policies":[...],"filterlists":[...],"filteractions":[...]}
//
// and the bucket's bbolt sequence number counts the writes to the location
// (Seq). Times are RFC 3339 with nanoseconds, in UTC. A location without a
// bucket has never been written and reads as Builtin(). The bucket "config"
// holds the machine IPsec configuration (see config.go).
const (
	FileName           = "gonetsh.db"
	DefaultLockTimeout = 5 * time.Second

	storeVersion = 1
)

var stateKey = []byte("state")

// Options configures a DB. The zero value is usable.
type Options struct {
	Clock       func() time.Time // time stamps; default time.Now
	NewGUID     func() GUID      // GUIDs of new objects; default RandomGUID
	LockTimeout time.Duration    // wait for the file lock; default 5s
}

// DB is the policy store of one directory.
//
// The bbolt file is opened for each transaction and closed after it, so an
// idle shell holds no lock: reads take bbolt's shared lock (read-only open),
// writes the exclusive one; waiting longer than LockTimeout for either gives
// CodeBusy. Every Update is one bbolt transaction, so a killed process or a
// second process (or a second DB in this one) never sees half a command.
//
// Batch mode (BeginBatch) keeps the changes to a location in memory until
// Flush; see there.
//
// A DB is safe for concurrent use. Callbacks must not call methods of the
// same DB: in batch mode Update runs them under the DB's mutex.
type DB struct {
	dir     string
	path    string
	env     env
	timeout time.Duration

	mu      sync.Mutex            // guards pending
	pending map[Location]*pending // the locations in batch mode
}

// Open returns the store kept in dir. It touches nothing on disk: the
// directory and file are created by the first write.
func Open(dir string, opt Options) (*DB, error) {
	if dir == "" {
		return nil, WithCause(CodeStoreOpen, errors.New("no store directory given"))
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, WithCause(CodeStoreOpen, fmt.Errorf("%s is not a directory", dir))
	}
	db := &DB{
		dir:     dir,
		path:    filepath.Join(dir, FileName),
		env:     env{clock: opt.Clock, newGUID: opt.NewGUID},
		timeout: opt.LockTimeout,
	}
	if db.env.clock == nil {
		db.env.clock = time.Now
	}
	if db.env.newGUID == nil {
		db.env.newGUID = RandomGUID
	}
	if db.timeout <= 0 {
		db.timeout = DefaultLockTimeout
	}
	return db, nil
}

// Path returns the path of the bbolt file.
func (db *DB) Path() string { return db.path }

func bucketName(loc Location) ([]byte, error) {
	switch loc {
	case Local, Persistent:
		return []byte(loc.String()), nil
	case Domain:
		return nil, NewError(CodeDomainStore)
	}
	return nil, invalid("store location", loc.String())
}

// View calls fn with the current State of loc. fn must not keep or modify
// the State. A location never written is shown as Builtin() and nothing is
// written. In batch mode, fn sees the batched changes.
func (db *DB) View(loc Location, fn func(*State) error) error {
	name, err := bucketName(loc)
	if err != nil {
		return err
	}
	db.mu.Lock()
	if p := db.pending[loc]; p != nil {
		c := p.mem.Clone()
		db.mu.Unlock()
		return fn(&c)
	}
	db.mu.Unlock()
	st, _, err := db.load(name)
	if err != nil {
		return err
	}
	return fn(&st)
}

// Update calls fn with the current State of loc (with the DB's clock and GUID
// source) and, if fn returns nil, stores the result and bumps Seq(loc), all in
// one transaction. If fn returns an error nothing is written and that error
// is returned. The first write to a location starts from Builtin().
//
// In batch mode fn is applied to the in-memory State and logged; see Flush.
// fn may then run again later, so it must depend only on its argument and
// on values captured when the command was parsed.
func (db *DB) Update(loc Location, fn func(*State) error) error {
	name, err := bucketName(loc)
	if err != nil {
		return err
	}
	db.mu.Lock()
	if p := db.pending[loc]; p != nil {
		defer db.mu.Unlock()
		return db.batchUpdate(p, fn)
	}
	db.mu.Unlock()
	return db.write(func(tx *bolt.Tx) error {
		st, err := db.current(tx, name)
		if err != nil {
			return err
		}
		e := db.env // own copy: its change counter is per call
		st.env = &e
		if err := fn(&st); err != nil {
			return err
		}
		return db.put(tx, name, &st)
	})
}

// Seq returns the number of writes to loc so far (0: never written). It
// changes with every committed Update or Flush, never with batched changes.
func (db *DB) Seq(loc Location) (uint64, error) {
	name, err := bucketName(loc)
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = db.read(func(tx *bolt.Tx) error {
		if b := tx.Bucket(name); b != nil {
			seq = b.Sequence()
		}
		return nil
	})
	return seq, err
}

// load reads the State of a location (Builtin() if never written) and its
// sequence number.
func (db *DB) load(name []byte) (State, uint64, error) {
	var (
		st    State
		seq   uint64
		found bool
	)
	err := db.read(func(tx *bolt.Tx) error {
		var err error
		b := tx.Bucket(name)
		if b != nil {
			seq = b.Sequence()
		}
		st, found, err = decodeBucket(b)
		return err
	})
	if err != nil {
		return State{}, 0, err
	}
	if !found {
		st = Builtin(db.env.clock)
	}
	return st, seq, nil
}

// current returns the State of a location inside a write transaction.
func (db *DB) current(tx *bolt.Tx, name []byte) (State, error) {
	st, found, err := decodeBucket(tx.Bucket(name))
	if err == nil && !found {
		st = Builtin(db.env.clock)
	}
	return st, err
}

// put stores st as the location's State and bumps its sequence number.
func (db *DB) put(tx *bolt.Tx, name []byte, st *State) error {
	data, err := json.Marshal(storedState{Version: storeVersion, State: *st})
	if err != nil {
		return WithCause(CodeStoreWrite, err)
	}
	b, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		return WithCause(CodeStoreWrite, err)
	}
	if err := b.Put(stateKey, data); err != nil {
		return WithCause(CodeStoreWrite, err)
	}
	if _, err := b.NextSequence(); err != nil {
		return WithCause(CodeStoreWrite, err)
	}
	return nil
}

// storedState is the JSON document of one location.
type storedState struct {
	Version int `json:"version"`
	State
}

func decodeBucket(b *bolt.Bucket) (State, bool, error) {
	if b == nil {
		return State{}, false, nil
	}
	data := b.Get(stateKey)
	if data == nil {
		return State{}, false, nil
	}
	var doc storedState
	if err := json.Unmarshal(data, &doc); err != nil {
		return State{}, false, WithCause(CodeStoreOpen, fmt.Errorf("damaged store: %w", err))
	}
	switch {
	case doc.Version == 0:
		return State{}, false, WithCause(CodeStoreOpen, errors.New("store data has no format version"))
	case doc.Version > storeVersion:
		return State{}, false, WithCause(CodeStoreOpen,
			fmt.Errorf("store format version %d is newer than this program's %d", doc.Version, storeVersion))
	}
	return doc.State, true, nil
}

// read runs fn in a read-only transaction. A file that does not exist or is
// still empty has never been written: then fn is not run and read returns
// nil, and nothing is created.
func (db *DB) read(fn func(*bolt.Tx) error) error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && fi.Size() == 0:
		return nil
	case err != nil:
		return WithCause(CodeStoreOpen, err)
	}
	b, err := bolt.Open(db.path, 0o600, &bolt.Options{ReadOnly: true, Timeout: db.timeout})
	if err != nil {
		return openError(err)
	}
	defer b.Close()
	return b.View(fn)
}

// write runs fn in a write transaction, creating the directory and file if
// needed. An error of fn is returned as is (and nothing is written).
func (db *DB) write(fn func(*bolt.Tx) error) (err error) {
	if err := os.MkdirAll(db.dir, 0o700); err != nil {
		return WithCause(CodeStoreOpen, err)
	}
	b, err := bolt.Open(db.path, 0o600, &bolt.Options{Timeout: db.timeout})
	if err != nil {
		return openError(err)
	}
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = WithCause(CodeStoreWrite, cerr)
		}
	}()
	var fnErr error
	err = b.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return WithCause(CodeStoreWrite, err)
	}
	return nil
}

func openError(err error) error {
	if errors.Is(err, bolt.ErrTimeout) {
		e := NewError(CodeBusy)
		e.cause = err
		return e
	}
	return WithCause(CodeStoreOpen, err)
}

// ---- batch mode ----

// pending is the batched state of one location.
type pending struct {
	base    State    // as read at first use in the batch or at the last Flush
	baseSeq uint64   // Seq of the location when base was read
	mem     State    // base with log applied; what View shows
	log     []*entry // the successful Update callbacks since base
}

// entry is one logged Update with the time stamps and GUIDs it drew, so that
// replaying it gives the objects the same identity the user already saw.
type entry struct {
	fn    func(*State) error
	times []time.Time
	guids []GUID
}

// recorder returns an env that draws from src and records what it drew.
func (e *entry) recorder(src *env) *env {
	return &env{
		clock: func() time.Time {
			t := src.clock()
			e.times = append(e.times, t)
			return t
		},
		newGUID: func() GUID {
			g := src.newGUID()
			e.guids = append(e.guids, g)
			return g
		},
	}
}

// player returns an env that gives back what the entry recorded, in order,
// then draws from src.
func (e *entry) player(src *env) *env {
	var nt, ng int
	return &env{
		clock: func() time.Time {
			if nt < len(e.times) {
				nt++
				return e.times[nt-1]
			}
			return src.clock()
		},
		newGUID: func() GUID {
			if ng < len(e.guids) {
				ng++
				return e.guids[ng-1]
			}
			return src.newGUID()
		},
	}
}

// BeginBatch puts loc in batch mode (`set batch mode=enable`): from now on
// Update changes an in-memory copy of loc, read here, and nothing is written
// until Flush. Errors still show at once, because every command is applied
// to the in-memory State when it is given, and View shows the batched
// changes. Calling it again for the same location is a no-op; other
// locations are written at once unless they are put in batch mode too.
// Changes of other processes become visible at Flush.
func (db *DB) BeginBatch(loc Location) error {
	name, err := bucketName(loc)
	if err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.pending[loc] != nil {
		return nil
	}
	st, seq, err := db.load(name)
	if err != nil {
		return err
	}
	if db.pending == nil {
		db.pending = make(map[Location]*pending)
	}
	db.pending[loc] = &pending{base: st, baseSeq: seq, mem: st.Clone()}
	return nil
}

// Batching reports whether loc is in batch mode.
func (db *DB) Batching(loc Location) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.pending[loc] != nil
}

func (db *DB) batchUpdate(p *pending, fn func(*State) error) error {
	e := &entry{fn: fn}
	rec := e.recorder(&db.env)
	p.mem.env = rec
	err := fn(&p.mem)
	p.mem.env = nil
	if err != nil {
		if rec.changes > 0 {
			// fn changed the State before failing: rebuild it.
			p.mem, _ = replay(&p.base, p.log, &db.env)
		}
		return err
	}
	p.log = append(p.log, e)
	return nil
}

// Flush writes the batched changes and ends batch mode for every location
// (`set batch mode=disable`, and what the shell does on exit). In one write
// transaction it re-reads every location changed in the batch, replays the
// logged commands onto it in order and stores the result once per location.
// Replaying onto the current State (not the one the batch started from)
// keeps changes made meanwhile by other processes; a command that no longer
// applies is skipped with its partial effects and its error is part of the
// returned errors.Join (the rest is written). When Seq shows that nobody
// wrote the location since the batch read it, the in-memory State is already
// that result and is written without a replay. With nothing logged Flush
// writes nothing.
//
// If the write itself fails (CodeBusy after LockTimeout, CodeStoreWrite,
// CodeStoreOpen) that error is returned, and batch mode ends anyway: the
// batched commands are lost rather than left pending behind a shell that
// believes batch mode is off.
func (db *DB) Flush() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	replayErr, writeErr := db.flushLocked()
	db.pending = nil
	if writeErr != nil {
		return writeErr
	}
	return replayErr
}

// errNoChange rolls back a flush transaction that would change nothing.
var errNoChange = errors.New("no change")

func (db *DB) flushLocked() (replayErr, writeErr error) {
	var locs []Location
	for loc, p := range db.pending {
		if len(p.log) > 0 {
			locs = append(locs, loc)
		}
	}
	if len(locs) == 0 {
		return nil, nil
	}
	slices.Sort(locs)
	var errs []error
	writeErr = db.write(func(tx *bolt.Tx) error {
		wrote := false
		for _, loc := range locs {
			name, _ := bucketName(loc)
			p := db.pending[loc]
			var seq uint64
			if b := tx.Bucket(name); b != nil {
				seq = b.Sequence()
			}
			st := p.mem // nobody wrote loc since base was read: mem is the replay's result
			if seq != p.baseSeq {
				base, err := db.current(tx, name)
				if err != nil {
					return err
				}
				var failed []error
				st, failed = replay(&base, p.log, &db.env)
				errs = append(errs, failed...)
				if len(failed) == len(p.log) {
					continue
				}
			}
			if err := db.put(tx, name, &st); err != nil {
				return err
			}
			wrote = true
		}
		if !wrote {
			return errNoChange
		}
		return nil
	})
	if errors.Is(writeErr, errNoChange) {
		writeErr = nil
	}
	if writeErr != nil {
		return nil, writeErr
	}
	return errors.Join(errs...), nil
}

// replay applies log, in order, to a copy of base and returns the result and
// the errors of the entries that failed. A failed entry is dropped with
// whatever it changed before failing: if it changed anything the State is
// rebuilt from base without it. That costs a full replay, but only a
// callback that calls several operations and fails after the first needs it.
func replay(base *State, log []*entry, src *env) (State, []error) {
	st := base.Clone()
	var (
		errs   []error
		failed []bool
	)
	for i, e := range log {
		pl := e.player(src)
		st.env = pl
		err := e.fn(&st)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		if failed == nil {
			failed = make([]bool, len(log))
		}
		failed[i] = true
		if pl.changes == 0 {
			continue
		}
		st = base.Clone()
		for j := range i {
			if !failed[j] {
				st.env = log[j].player(src)
				_ = log[j].fn(&st) // succeeded on this very State before
			}
		}
	}
	st.env = nil
	return st, errs
}
