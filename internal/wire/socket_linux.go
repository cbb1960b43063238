//go:build linux

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// packetSocket is a non-blocking AF_PACKET socket on one interface. It is
// opened here rather than through pcapgo.EthernetHandle because the
// handle keeps its socket to itself and its reads block: a Capture needs
// the descriptor to poll with a deadline and to read without waiting.
// gopacket still decodes the frames and writes the pcap file.
type packetSocket struct {
	fd      int
	ifindex int
	buf     []byte // one frame, cut to the snap length
	oob     []byte // its control messages: aux data and timestamp
}

// htons is v in network byte order, as AF_PACKET's protocol fields want it.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

// openPacketSocket opens a socket that sees nothing yet: the filter is
// attached before bind, so no unfiltered packet is ever queued.
func openPacketSocket(ifname string, snap int) (*packetSocket, error) {
	intf, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface: %w", err)
	}
	// Protocol 0: no packet is delivered until bind names one.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	s := &packetSocket{fd: fd, ifindex: intf.Index, buf: make([]byte, snap), oob: make([]byte, 256)}
	// The frame's length before the filter cut it comes in PACKET_AUXDATA;
	// without it, or without a kernel timestamp, the read falls back.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	return s, nil
}

// attach sets the socket's classic BPF filter.
func (s *packetSocket) attach(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return errors.New("attach filter: empty program")
	}
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

// bind starts delivery: every protocol, on the socket's interface only.
func (s *packetSocket) bind() error {
	if err := unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}); err != nil {
		return fmt.Errorf("bind packet socket: %w", err)
	}
	return nil
}

// read returns the next queued frame (valid until the next read) or an
// error wrapping unix.EAGAIN when none is queued.
func (s *packetSocket) read() ([]byte, gopacket.CaptureInfo, error) {
	for {
		// MSG_TRUNC: n is the frame's length even when buf cut it.
		n, oobn, _, _, err := unix.Recvmsg(s.fd, s.buf, s.oob, unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("read packet: %w", err)
		}
		ci := gopacket.CaptureInfo{CaptureLength: min(n, len(s.buf)), Length: n, InterfaceIndex: s.ifindex}
		parseControl(s.oob[:oobn], &ci)
		if ci.Timestamp.IsZero() {
			ci.Timestamp = time.Now()
		}
		return s.buf[:ci.CaptureLength], ci, nil
	}
}

// parseControl reads the frame's original length and kernel timestamp
// from its control messages.
func parseControl(oob []byte, ci *gopacket.CaptureInfo) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return
		}
		oob = rest
		switch {
		case h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && len(data) >= 8:
			// struct tpacket_auxdata: tp_status, tp_len, …
			ci.Length = int(binary.NativeEndian.Uint32(data[4:8]))
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && len(data) >= 16:
			// struct timespec with 64-bit fields (64-bit Linux).
			ci.Timestamp = time.Unix(int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:])))
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && len(data) >= 8:
			ci.Timestamp = time.Unix(int64(int32(binary.NativeEndian.Uint32(data))), int64(int32(binary.NativeEndian.Uint32(data[4:]))))
		}
	}
}

// drops is what the receive queue dropped since the last call.
func (s *packetSocket) drops() (int, error) {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, fmt.Errorf("read socket stats: %w", err)
	}
	return int(st.Drops), nil
}

func (s *packetSocket) close() error { return unix.Close(s.fd) }
