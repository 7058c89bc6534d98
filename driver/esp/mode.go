package esp

// IPv4 framing of ESP (RFC 4303 section 3.1): tunnel mode puts a new outer
// header in front of the protected inner packet; transport mode keeps the
// original header, changes its protocol to 50 and protects only the
// payload. Each helper holds the SA lock for the whole packet.

// SealTunnel appends to dst a tunnel-mode packet: a 20-byte outer IPv4
// header built from outer, then the ESP packet protecting inner (a whole
// IPv4 packet, Next Header 4). outer.Protocol and outer.TotalLength are
// filled in; copying DSCP and DF from the inner header (RFC 4301 section
// 5.1.2.1) is the caller's choice through outer.TOS and outer.Flags.
// inner may overlap dst's spare capacity. No allocation when dst has room
// for IPv4MinimumSize + SealedLen(len(inner)) more bytes.
func (sa *SA) SealTunnel(dst []byte, outer IPv4Fields, inner []byte) ([]byte, error) {
	if !outer.Src.Is4() || !outer.Dst.Is4() {
		return dst, ErrNotIPv4
	}
	in := IPv4(inner)
	if !in.IsValid() {
		return dst, ErrMalformed
	}
	inner = inner[:in.TotalLength()]

	sa.mu.Lock()
	defer sa.mu.Unlock()
	n := IPv4MinimumSize + sa.SealedLen(len(inner))
	if n > ipv4MaxTotalSize {
		return dst, ErrTooBig
	}
	ret, out := sliceForAppend(dst, n)
	if _, err := sa.sealLocked(out[IPv4MinimumSize:IPv4MinimumSize], inner, ProtocolIPv4); err != nil {
		return dst, err
	}
	outer.Protocol = ProtocolESP
	outer.TotalLength = uint16(n)
	IPv4(out).Encode(&outer)
	return ret, nil
}

// OpenTunnel opens a tunnel-mode packet in place: packet is the outer IPv4
// packet carrying ESP. It returns the inner IPv4 packet, which aliases
// packet. Beyond Open's errors it returns ErrMalformed (bad outer or inner
// header), ErrFragment (reassemble first, RFC 4303 section 3.4.1),
// ErrProtocol (outer protocol not 50, or Next Header not 4) and
// ErrNoNextHeader (a dummy packet, to drop silently).
func (sa *SA) OpenTunnel(packet []byte) ([]byte, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	esp, err := sa.outerLocked(packet)
	if err != nil {
		return nil, err
	}
	inner, nh, err := sa.openLocked(esp)
	if err != nil {
		return nil, err
	}
	switch {
	case nh == ProtocolNoNext:
		return nil, ErrNoNextHeader
	case nh != ProtocolIPv4:
		sa.stats.Invalid++
		return nil, ErrProtocol
	}
	in := IPv4(inner)
	if !in.IsValid() {
		sa.stats.Invalid++
		return nil, ErrMalformed
	}
	return inner[:in.TotalLength()], nil
}

// SealTransport appends to dst the transport-mode form of packet, a whole
// IPv4 packet: its header (options kept) with protocol 50 and new total
// length and checksum, then the ESP packet protecting the payload with the
// original protocol as Next Header. packet may overlap dst's spare
// capacity, so a packet can be protected in place when the buffer has room
// for the growth. Fragments are refused with ErrFragment.
func (sa *SA) SealTransport(dst, packet []byte) ([]byte, error) {
	ip := IPv4(packet)
	if !ip.IsValid() {
		return dst, ErrMalformed
	}
	if ip.IsFragment() {
		return dst, ErrFragment
	}
	hl, tl := ip.HeaderLength(), int(ip.TotalLength())
	proto := ip.Protocol()

	sa.mu.Lock()
	defer sa.mu.Unlock()
	n := hl + sa.SealedLen(tl-hl)
	if n > ipv4MaxTotalSize {
		return dst, ErrTooBig
	}
	hdr := sa.iphdr[:hl]
	copy(hdr, packet) // the header may be overwritten by the move below
	ret, out := sliceForAppend(dst, n)
	if _, err := sa.sealLocked(out[hl:hl], packet[hl:tl], proto); err != nil {
		return dst, err
	}
	copy(out, hdr)
	o := IPv4(out)
	o.SetProtocol(ProtocolESP)
	o.SetTotalLength(uint16(n))
	o.UpdateChecksum()
	return ret, nil
}

// OpenTransport opens a transport-mode packet in place and returns the
// restored IPv4 packet, which aliases packet: the header with the Next
// Header as protocol and the new total length and checksum, followed by the
// decrypted payload. Errors are those of OpenTunnel, except that any Next
// Header but 59 is accepted.
func (sa *SA) OpenTransport(packet []byte) ([]byte, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	esp, err := sa.outerLocked(packet)
	if err != nil {
		return nil, err
	}
	payload, nh, err := sa.openLocked(esp)
	if err != nil {
		return nil, err
	}
	if nh == ProtocolNoNext {
		return nil, ErrNoNextHeader
	}
	hl := IPv4(packet).HeaderLength()
	n := hl + copy(packet[hl:], payload)
	o := IPv4(packet[:n])
	o.SetProtocol(nh)
	o.SetTotalLength(uint16(n))
	o.UpdateChecksum()
	return packet[:n], nil
}

// outerLocked validates an outer IPv4 header carrying ESP and returns the
// ESP packet it carries.
func (sa *SA) outerLocked(packet []byte) ([]byte, error) {
	ip := IPv4(packet)
	switch {
	case !ip.IsValid():
		sa.stats.Invalid++
		return nil, ErrMalformed
	case ip.IsFragment():
		sa.stats.Invalid++
		return nil, ErrFragment
	case ip.Protocol() != ProtocolESP:
		sa.stats.Invalid++
		return nil, ErrProtocol
	}
	return ip.Payload(), nil
}
