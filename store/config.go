package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Machine IPsec configuration (`ipsec dynamic set config`, reference 3.7,
// 4.4, 4.5). It is kept in the same bbolt file as the policy stores, in the
// bucket "config" under the key "config", as JSON with a "version" field:
//
//	{"version":1,"ipsecdiagnostics":0,...,"bootmode":"stateful","bootexemptions":[]}
//
// A file without that key has never been written and reads as
// DefaultConfig().

var (
	configBucket = []byte("config")
	configKey    = []byte("config")
)

const configVersion = 1

// BootMode and BootExemption are the leaf types of package ipsec, which
// the data path enforces.
type (
	BootMode      = ipsec.BootMode
	BootExemption = ipsec.BootExemption
)

// Boot modes.
const (
	BootStateful = ipsec.BootStateful
	BootBlock    = ipsec.BootBlock
	BootPermit   = ipsec.BootPermit
)

// Config is the machine IPsec configuration. Ranges are those of
// reference 3.7; Validate checks them.
type Config struct {
	IPsecDiagnostics int             `json:"ipsecdiagnostics"` // 0-7
	IKELogging       int             `json:"ikelogging"`       // 0-1
	StrongCRLCheck   int             `json:"strongcrlcheck"`   // 0-2
	IPsecLogInterval int             `json:"ipsecloginterval"` // 60-86400 seconds
	IPsecExempt      int             `json:"ipsecexempt"`      // 0-3 (NoDefaultExempt)
	BootMode         BootMode        `json:"bootmode"`
	BootExemptions   []BootExemption `json:"bootexemptions"` // empty: none
}

// DefaultConfig returns the configuration of a fresh Windows Server 2003
// (reference 4.4): 0, 0, 1, 3600, 3, stateful, none.
func DefaultConfig() Config {
	return Config{StrongCRLCheck: 1, IPsecLogInterval: 3600, IPsecExempt: 3, BootMode: BootStateful}
}

// Clone returns a copy of c that shares no memory with it.
func (c Config) Clone() Config {
	c.BootExemptions = append([]BootExemption(nil), c.BootExemptions...)
	return c
}

// Validate reports the first value of c out of its range, with code
// CodeInvalid.
func (c *Config) Validate() error {
	ints := []struct {
		name     string
		v        int
		min, max int
	}{
		{"ipsecdiagnostics", c.IPsecDiagnostics, 0, 7},
		{"ikelogging", c.IKELogging, 0, 1},
		{"strongcrlcheck", c.StrongCRLCheck, 0, 2},
		{"ipsecloginterval", c.IPsecLogInterval, 60, 86400},
		{"ipsecexempt", c.IPsecExempt, 0, 3},
	}
	for _, i := range ints {
		if i.v < i.min || i.v > i.max {
			return invalid(i.name, fmt.Sprintf("%d is not from %d to %d", i.v, i.min, i.max))
		}
	}
	if c.BootMode < BootStateful || c.BootMode > BootPermit {
		return invalid("bootmode", c.BootMode.String())
	}
	for _, e := range c.BootExemptions {
		if e.Direction != ipsec.Inbound && e.Direction != ipsec.Outbound {
			return invalid("bootexemptions", e.String())
		}
		if (e.SrcPort != 0 || e.DstPort != 0) && !e.Protocol.HasPorts() {
			return invalid("bootexemptions", e.String())
		}
	}
	return nil
}

type storedConfig struct {
	Version int `json:"version"`
	Config
}

// Config returns the machine IPsec configuration; DefaultConfig() when it
// has never been written. It is not affected by batch mode.
func (db *DB) Config() (Config, error) {
	c := DefaultConfig()
	err := db.read(func(tx *bolt.Tx) error {
		var err error
		c, err = decodeConfig(tx)
		return err
	})
	return c, err
}

// UpdateConfig calls fn with the current configuration and, if fn returns
// nil and the result is valid (Config.Validate), stores it, all in one
// transaction. If fn fails or the result is invalid nothing is written and
// that error is returned. Batch mode does not delay configuration changes.
func (db *DB) UpdateConfig(fn func(*Config) error) error {
	return db.write(func(tx *bolt.Tx) error {
		c, err := decodeConfig(tx)
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		data, err := json.Marshal(storedConfig{Version: configVersion, Config: c})
		if err != nil {
			return WithCause(CodeStoreWrite, err)
		}
		b, err := tx.CreateBucketIfNotExists(configBucket)
		if err != nil {
			return WithCause(CodeStoreWrite, err)
		}
		if err := b.Put(configKey, data); err != nil {
			return WithCause(CodeStoreWrite, err)
		}
		return nil
	})
}

// decodeConfig reads the configuration in tx; DefaultConfig() if absent.
func decodeConfig(tx *bolt.Tx) (Config, error) {
	b := tx.Bucket(configBucket)
	if b == nil {
		return DefaultConfig(), nil
	}
	data := b.Get(configKey)
	if data == nil {
		return DefaultConfig(), nil
	}
	doc := storedConfig{Config: DefaultConfig()}
	if err := json.Unmarshal(data, &doc); err != nil {
		return Config{}, WithCause(CodeStoreOpen, fmt.Errorf("damaged configuration: %w", err))
	}
	if doc.Version > configVersion {
		return Config{}, WithCause(CodeStoreOpen,
			fmt.Errorf("configuration format version %d is newer than this program's %d", doc.Version, configVersion))
	}
	return doc.Config, nil
}

// ConfigProperty names one field of Config, as `set config property=` does.
type ConfigProperty uint8

// Configuration properties, in netsh's usage order.
const (
	ConfigIPsecDiagnostics ConfigProperty = iota + 1
	ConfigIKELogging
	ConfigStrongCRLCheck
	ConfigIPsecLogInterval
	ConfigIPsecExempt
	ConfigBootMode
	ConfigBootExemptions
)

// String returns the netsh property name.
func (p ConfigProperty) String() string {
	switch p {
	case ConfigIPsecDiagnostics:
		return "ipsecdiagnostics"
	case ConfigIKELogging:
		return "ikelogging"
	case ConfigStrongCRLCheck:
		return "strongcrlcheck"
	case ConfigIPsecLogInterval:
		return "ipsecloginterval"
	case ConfigIPsecExempt:
		return "ipsecexempt"
	case ConfigBootMode:
		return "bootmode"
	case ConfigBootExemptions:
		return "bootexemptions"
	}
	return fmt.Sprintf("ConfigProperty(%d)", uint8(p))
}

// ConfigValue is the new value of one property: Int for the integer
// properties, BootMode for bootmode, Exemptions for bootexemptions (empty:
// none).
type ConfigValue struct {
	Int        int
	BootMode   BootMode
	Exemptions []BootExemption
}

// Set stores v in the field p names. It does not check ranges (Validate
// does, and UpdateConfig calls it); an unknown property is CodeInvalid.
func (c *Config) Set(p ConfigProperty, v ConfigValue) error {
	switch p {
	case ConfigIPsecDiagnostics:
		c.IPsecDiagnostics = v.Int
	case ConfigIKELogging:
		c.IKELogging = v.Int
	case ConfigStrongCRLCheck:
		c.StrongCRLCheck = v.Int
	case ConfigIPsecLogInterval:
		c.IPsecLogInterval = v.Int
	case ConfigIPsecExempt:
		c.IPsecExempt = v.Int
	case ConfigBootMode:
		c.BootMode = v.BootMode
	case ConfigBootExemptions:
		c.BootExemptions = append([]BootExemption(nil), v.Exemptions...)
	default:
		return invalid("configuration property", p.String())
	}
	return nil
}
