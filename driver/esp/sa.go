package esp

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"
	"sync"

	"github.com/gonetsh/gonetsh/driver/replay"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Config is everything New needs to build one direction of an ESP SA.
type Config struct {
	SPI    uint32 // RFC 4303 section 2.1: 0-255 are reserved and rejected
	Dir    Direction
	Cipher ipsec.Cipher
	Hash   ipsec.Hash // HashNone with AES-GCM

	// EncKey is the encryption key material, EncKeyLen(Cipher) bytes: for
	// AES-GCM the key followed by the 4-byte salt (RFC 4106 section 8.1).
	// New copies it; the caller keeps ownership of the slice.
	EncKey []byte
	// AuthKey is the HMAC key, AuthKeyLen(Hash) bytes. New copies it.
	AuthKey []byte

	// ESN enables 64-bit Extended Sequence Numbers (RFC 4303 section 2.2.1).
	ESN bool

	// Rand is the source of CBC IVs (RFC 3602 section 2.2: unpredictable).
	// Nil means crypto/rand.Reader. AES-GCM does not use it: its IV is the
	// sequence number (RFC 4106 section 3.1).
	Rand io.Reader
}

// SA is one direction of an ESP security association: an outbound SA seals,
// an inbound SA opens. Its methods are safe for concurrent use; they are
// serialized by a mutex, so packets of one SA are processed one at a time
// and parallelism comes from using several SAs.
//
// The SA holds copies of its keys until Wipe. Precomputed crypto state (the
// cipher.Block or cipher.AEAD, the HMAC with its pads) and per-packet
// scratch space live in the SA so that Seal and Open do not allocate.
type SA struct {
	mu sync.Mutex // guards every field below

	spi   uint32
	dir   Direction
	esn   bool
	s     suite
	wiped bool

	seq    uint64        // outbound: last sequence number used
	window replay.Window // inbound

	stats Stats

	encKey, authKey []byte // copies, zeroed by Wipe

	rand   io.Reader
	cbcEnc ivBlockMode
	cbcDec ivBlockMode
	aead   cipher.AEAD
	mac    hash.Hash

	// Scratch, kept here so that slices passed to interface methods do not
	// force a heap allocation per packet.
	sum   [sha256.Size]byte
	nonce [gcmNonceLen]byte // salt || IV
	aad   [12]byte          // SPI || [ESN high] || seq low
	esnHi [4]byte
	iphdr [IPv4MaximumHeaderSize]byte
}

// New validates cfg and builds the SA, precomputing the cipher and HMAC
// state. Errors wrap ErrAlgorithm, ErrKeyLen, ErrSPI or ErrDirection.
func New(cfg Config) (*SA, error) {
	if cfg.SPI < 256 {
		return nil, fmt.Errorf("%w: SPI %d is reserved (RFC 4303 section 2.1)", ErrSPI, cfg.SPI)
	}
	if cfg.Dir != Outbound && cfg.Dir != Inbound {
		return nil, fmt.Errorf("%w: %v", ErrDirection, cfg.Dir)
	}
	s, err := newSuite(cfg.Cipher, cfg.Hash)
	if err != nil {
		return nil, err
	}
	if n := EncKeyLen(cfg.Cipher); len(cfg.EncKey) != n {
		return nil, fmt.Errorf("%w: %v needs %d bytes of key material, got %d", ErrKeyLen, cfg.Cipher, n, len(cfg.EncKey))
	}
	if n := AuthKeyLen(cfg.Hash); len(cfg.AuthKey) != n {
		return nil, fmt.Errorf("%w: %v needs a %d-byte key, got %d", ErrKeyLen, cfg.Hash, n, len(cfg.AuthKey))
	}
	sa := &SA{
		spi:     cfg.SPI,
		dir:     cfg.Dir,
		esn:     cfg.ESN,
		s:       s,
		encKey:  append([]byte(nil), cfg.EncKey...),
		authKey: append([]byte(nil), cfg.AuthKey...),
		rand:    cfg.Rand,
	}
	if sa.rand == nil {
		sa.rand = rand.Reader
	}
	switch {
	case s.aead:
		k := len(sa.encKey) - gcmSaltLen
		if sa.aead, err = newGCM(sa.encKey[:k]); err != nil {
			return nil, err
		}
		copy(sa.nonce[:gcmSaltLen], sa.encKey[k:])
	case s.ivLen > 0:
		b, err := newBlock(s.cipher, sa.encKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyLen, err)
		}
		if sa.cbcEnc, sa.cbcDec, err = newCBC(b); err != nil {
			return nil, err
		}
	}
	if s.hash != ipsec.HashNone {
		if sa.mac, err = NewMAC(s.hash, sa.authKey); err != nil {
			return nil, err
		}
	}
	return sa, nil
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Direction returns the SA's direction.
func (sa *SA) Direction() Direction { return sa.dir }

// Stats returns a snapshot of the counters.
func (sa *SA) Stats() Stats {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	st := sa.stats
	if sa.dir == Outbound {
		st.Seq = sa.seq
	} else {
		st.Seq = sa.window.Last()
	}
	return st
}

// Wipe zeroes the SA's copies of its keys and the GCM salt and drops the
// precomputed cipher and HMAC state, after which Seal and Open return
// ErrWiped. The key schedules inside crypto/aes, crypto/des and crypto/hmac
// cannot be zeroed from outside; dropping them leaves them to the garbage
// collector.
func (sa *SA) Wipe() {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	clear(sa.encKey)
	clear(sa.authKey)
	clear(sa.nonce[:])
	clear(sa.sum[:])
	sa.cbcEnc, sa.cbcDec, sa.aead, sa.mac = nil, nil, nil, nil
	sa.wiped = true
}

// SealedLen returns the length of the ESP packet Seal produces for a
// payload of n bytes: header, IV, payload padded with its trailer to the
// cipher's alignment (RFC 4303 section 2.4), and ICV.
func (sa *SA) SealedLen(n int) int {
	return HeaderLen + sa.s.ivLen + roundUp(n+TrailerLen, sa.s.align) + sa.s.icvLen
}

// Overhead returns the most bytes ESP adds to a payload: SealedLen(n) - n
// is at most Overhead() for every n.
func (sa *SA) Overhead() int {
	return HeaderLen + sa.s.ivLen + TrailerLen + sa.s.align - 1 + sa.s.icvLen
}

func roundUp(n, align int) int { return (n + align - 1) / align * align }

// Seal protects payload and appends the ESP packet to dst, returning the
// extended slice: SPI, sequence number, IV, the encrypted payload with its
// padding, Pad Length and Next Header (RFC 4303 section 2), and the ICV.
// nextHeader is the protocol of payload: 4 for a tunnelled IPv4 packet, 6,
// 17, 1... in transport mode.
//
// If cap(dst)-len(dst) >= SealedLen(len(payload)), Seal does not allocate.
// payload may overlap dst's spare capacity, at any offset: it is moved into
// place before anything else is written, so it can be sealed in place.
//
// Seal consumes one sequence number; it fails with ErrSeqOverflow when the
// 32-bit (or, with ESN, 64-bit) space is exhausted (RFC 4303 section
// 3.3.3), when the SA must be replaced.
func (sa *SA) Seal(dst, payload []byte, nextHeader byte) ([]byte, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.sealLocked(dst, payload, nextHeader)
}

func (sa *SA) sealLocked(dst, payload []byte, nextHeader byte) ([]byte, error) {
	if sa.wiped {
		return dst, ErrWiped
	}
	if sa.dir != Outbound {
		return dst, ErrDirection
	}
	seq := sa.seq + 1
	if seq == 0 || (!sa.esn && seq > math.MaxUint32) {
		return dst, ErrSeqOverflow
	}
	s := &sa.s
	n := sa.SealedLen(len(payload))
	ret, out := sliceForAppend(dst, n)

	ctOff := HeaderLen + s.ivLen
	ctLen := n - ctOff - s.icvLen
	ct := out[ctOff : ctOff+ctLen]

	// Payload first: it may overlap the header or IV region.
	copy(ct, payload)
	padLen := ctLen - len(payload) - TrailerLen
	pad := ct[len(payload) : len(payload)+padLen]
	for i := range pad {
		pad[i] = byte(i + 1) // RFC 4303 section 2.4: 1, 2, 3, ...
	}
	ct[ctLen-2] = byte(padLen)
	ct[ctLen-1] = nextHeader

	h := Header(out)
	h.SetSPI(sa.spi)
	h.SetSeqNum(uint32(seq))
	iv := out[HeaderLen:ctOff]

	switch {
	case s.aead:
		// RFC 4106 section 3.1: a counter is a valid IV; the sequence
		// number never repeats within the SA.
		binary.BigEndian.PutUint64(iv, seq)
		copy(sa.nonce[gcmSaltLen:], iv)
		sa.aead.Seal(ct[:0], sa.nonce[:], ct, sa.aadFor(seq))
	case s.ivLen > 0:
		if _, err := io.ReadFull(sa.rand, iv); err != nil {
			return dst, fmt.Errorf("esp: reading IV: %w", err)
		}
		sa.cbcEnc.SetIV(iv)
		sa.cbcEnc.CryptBlocks(ct, ct)
	}
	if !s.aead && s.icvLen > 0 {
		// RFC 4303 section 3.3.4: the ICV covers the ESP packet from SPI
		// to the end of the ciphertext (and the implicit ESN high bits).
		icv := sa.icv(out[:ctOff+ctLen], seq)
		copy(out[ctOff+ctLen:], icv)
	}
	sa.seq = seq
	sa.stats.Packets++
	sa.stats.Bytes += uint64(len(payload))
	return ret, nil
}

// icv computes the truncated HMAC of b, followed by the high 32 bits of seq
// when ESN is on (RFC 4303 section 2.2.1). The result aliases sa.sum.
func (sa *SA) icv(b []byte, seq uint64) []byte {
	sa.mac.Reset()
	sa.mac.Write(b)
	if sa.esn {
		binary.BigEndian.PutUint32(sa.esnHi[:], uint32(seq>>32))
		sa.mac.Write(sa.esnHi[:])
	}
	return sa.mac.Sum(sa.sum[:0])[:sa.s.icvLen]
}

// aadFor fills and returns the RFC 4106 section 5 AAD: SPI || seq, or
// SPI || ESN high || seq low.
func (sa *SA) aadFor(seq uint64) []byte {
	binary.BigEndian.PutUint32(sa.aad[0:], sa.spi)
	if sa.esn {
		binary.BigEndian.PutUint32(sa.aad[4:], uint32(seq>>32))
		binary.BigEndian.PutUint32(sa.aad[8:], uint32(seq))
		return sa.aad[:12]
	}
	binary.BigEndian.PutUint32(sa.aad[4:], uint32(seq))
	return sa.aad[:8]
}

// Open authenticates and decrypts the ESP packet in place (packet is
// modified) and returns the inner payload, which aliases packet, and its
// Next Header value. packet runs from the SPI to the end of the ICV; an
// outer IP or UDP header must already be stripped.
//
// Errors are sentinels and bump the matching counter: ErrShort,
// ErrMalformed, ErrSPI, ErrPadding (Invalid), ErrReplay (ReplayDrops),
// ErrAuth (AuthFailures). Next Header 59 marks a dummy packet (RFC 4303
// section 2.6) that the caller drops. Open does not allocate.
func (sa *SA) Open(packet []byte) (payload []byte, nextHeader byte, err error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.openLocked(packet)
}

func (sa *SA) openLocked(packet []byte) ([]byte, byte, error) {
	if sa.wiped {
		return nil, 0, ErrWiped
	}
	if sa.dir != Inbound {
		return nil, 0, ErrDirection
	}
	s := &sa.s
	ctOff := HeaderLen + s.ivLen
	if len(packet) < ctOff+TrailerLen+s.icvLen {
		sa.stats.Invalid++
		return nil, 0, ErrShort
	}
	ctLen := len(packet) - ctOff - s.icvLen
	if ctLen%s.blockSize != 0 {
		sa.stats.Invalid++
		return nil, 0, ErrMalformed
	}
	h := Header(packet)
	if h.SPI() != sa.spi {
		sa.stats.Invalid++
		return nil, 0, ErrSPI
	}
	seq := uint64(h.SeqNum())
	if sa.esn {
		seq = sa.window.Infer(uint32(seq))
	}
	// RFC 4303 section 3.4.3: drop duplicates before spending the ICV.
	if !sa.window.Check(seq) {
		sa.stats.ReplayDrops++
		return nil, 0, ErrReplay
	}
	ct := packet[ctOff : ctOff+ctLen]
	switch {
	case s.aead:
		copy(sa.nonce[gcmSaltLen:], packet[HeaderLen:ctOff])
		// GCM verifies the tag before it releases plaintext.
		if _, err := sa.aead.Open(ct[:0], sa.nonce[:], packet[ctOff:], sa.aadFor(seq)); err != nil {
			sa.stats.AuthFailures++
			return nil, 0, ErrAuth
		}
	default:
		if s.icvLen > 0 {
			// RFC 4303 section 3.4.4: ICV first, in constant time.
			if !hmac.Equal(sa.icv(packet[:ctOff+ctLen], seq), packet[ctOff+ctLen:]) {
				sa.stats.AuthFailures++
				return nil, 0, ErrAuth
			}
		}
		if s.ivLen > 0 {
			sa.cbcDec.SetIV(packet[HeaderLen:ctOff])
			sa.cbcDec.CryptBlocks(ct, ct)
		}
	}
	padLen := int(ct[ctLen-2])
	nextHeader := ct[ctLen-1]
	if padLen+TrailerLen > ctLen {
		sa.stats.Invalid++
		return nil, 0, ErrPadding
	}
	end := ctLen - TrailerLen - padLen
	for i, b := range ct[end : ctLen-TrailerLen] {
		if b != byte(i+1) {
			sa.stats.Invalid++
			return nil, 0, ErrPadding
		}
	}
	if !sa.window.Commit(seq) {
		sa.stats.ReplayDrops++
		return nil, 0, ErrReplay
	}
	sa.stats.Packets++
	sa.stats.Bytes += uint64(end)
	return ct[:end], nextHeader, nil
}

// sliceForAppend extends in by n bytes, reusing its capacity when it can,
// and returns the whole slice and the new tail.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
