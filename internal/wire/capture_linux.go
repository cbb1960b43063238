//go:build linux

package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Capture is a running capture of one backend port's connections.
//
// It has no reader of its own: packets wait in the socket's receive queue
// (the kernel filter passes only the port's, cut to the snap length) and
// are read by Sync, in the caller's goroutine. A trial on a busy machine
// then pays no goroutine wake-ups per packet, only a few system calls
// when its evidence is wanted; Drain, called after every trial, keeps the
// queue short when no evidence is wanted.
type Capture struct {
	cfg      Config
	handle   *pcapgo.EthernetHandle
	fd       int
	flows    *flows
	sentinel *net.UDPConn
	sentAddr *net.UDPAddr
	sentPort uint16

	// mu serialises reading the socket (the handle's buffer is shared).
	mu      sync.Mutex
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	ip4     layers.IPv4
	tcp     layers.TCP
	udp     layers.UDP
	decoded []gopacket.LayerType
	seq     uint64 // the last barrier datagram sent
	synced  uint64 // the last barrier datagram read
	started bool   // the first barrier was read: the filter is in place
	closed  bool

	packets, dups, other, kernelDrops int
	// rcvbuf is the socket's receive buffer as the kernel set it.
	rcvbuf int
}

// rcvBuf is the receive buffer asked for: packets wait in it between two
// reads, and a loaded machine can delay a read by milliseconds. The
// default buffer (about 200 KiB) holds a few hundred small packets.
const rcvBuf = 8 << 20

// handleFD is the handle's socket. pcapgo keeps the descriptor unexported;
// it is read, not changed, through reflection (pinned gopacket v1.1.19).
func handleFD(h *pcapgo.EthernetHandle) (int, bool) {
	fv := reflect.ValueOf(h).Elem().FieldByName("fd")
	if !fv.IsValid() || !fv.CanInt() {
		return 0, false
	}
	return int(fv.Int()), true
}

// growBuffer raises the socket's receive buffer past the system limit
// (SO_RCVBUFFORCE, root or CAP_NET_ADMIN), or to it, and returns the size
// the kernel set (0: unknown).
func growBuffer(fd, size int) int {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0
	}
	return got
}

// startSyncWait bounds the first barrier: the proof that the socket sees
// this host's loopback traffic at all.
const startSyncWait = 2 * time.Second

// Start opens the capture and returns once it is seeing packets: a
// barrier datagram sent after the filter was attached has been read
// back. Without root or CAP_NET_RAW the error wraps ErrUnavailable.
func Start(ctx context.Context, cfg Config) (*Capture, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h, err := pcapgo.NewEthernetHandle(cfg.Interface)
	if err != nil {
		hint := ""
		if strings.Contains(err.Error(), "not permitted") {
			hint = " (needs root or CAP_NET_RAW)"
		}
		return nil, fmt.Errorf("%w: open AF_PACKET socket on %s: %v%s", ErrUnavailable, cfg.Interface, err, hint)
	}
	fd, ok := handleFD(h)
	if !ok {
		h.Close()
		return nil, fmt.Errorf("%w: pcapgo's handle hides its socket (gopacket other than v1.1.19?)", ErrUnavailable)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		h.Close()
		return nil, fmt.Errorf("start capture: %w", err)
	}
	c := &Capture{cfg: cfg, handle: h, fd: fd, flows: newFlows(cfg.MaxConns, cfg.MaxPackets), rcvbuf: growBuffer(fd, rcvBuf)}
	c.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &c.eth, &c.ip4, &c.tcp, &c.udp)
	c.parser.IgnoreUnsupported = true
	if err := h.SetCaptureLength(cfg.SnapLen); err != nil {
		h.Close()
		return nil, fmt.Errorf("start capture: %w", err)
	}
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("start capture: barrier socket: %w", err)
	}
	c.sentinel, c.sentAddr = s, s.LocalAddr().(*net.UDPAddr)
	c.sentPort = uint16(c.sentAddr.Port)
	if cfg.Filtering == FilterKernel {
		prog, err := kernelFilter(cfg.Port, c.sentPort, uint32(cfg.SnapLen))
		if err == nil {
			err = h.SetBPF(prog)
		}
		if err != nil {
			_ = s.Close()
			h.Close()
			return nil, fmt.Errorf("%w: attach filter: %v", ErrUnavailable, err)
		}
	}
	go drainSentinel(s)
	sctx, cancel := context.WithTimeout(ctx, startSyncWait)
	defer cancel()
	if err := c.Sync(sctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: no packet seen on %s within %s (%v)", ErrUnavailable, cfg.Interface, startSyncWait, err)
	}
	return c, nil
}

// Sync reads every packet the kernel saw before the call: it sends a
// barrier datagram through the capture and reads the queue up to it.
// Packets that caused something the caller has already observed (a
// response, a reset) were queued before that observation, so after Sync
// they are in the capture's connections.
func (c *Capture) Sync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("sync capture: capture closed")
	}
	c.seq++
	want := c.seq
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], want)
	if _, err := c.sentinel.WriteToUDP(b[:], c.sentAddr); err != nil {
		return fmt.Errorf("sync capture: %w", err)
	}
	for c.synced < want {
		wait := 100 * time.Millisecond
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if err := ctx.Err(); err != nil || wait <= 0 {
			return fmt.Errorf("sync capture: barrier %d not seen: %w", want, context.DeadlineExceeded)
		}
		if _, err := c.readReady(wait); err != nil {
			return fmt.Errorf("sync capture: %w", err)
		}
	}
	return nil
}

// Drain reads what is queued now, without waiting: a caller that wants
// no evidence of a trial still keeps the socket's queue short.
func (c *Capture) Drain() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	_, err := c.readReady(0)
	return err
}

// readReady reads every packet queued; when none is, it waits up to wait
// for one. It reports how many it read. The socket is non-blocking, so a
// packet costs one system call; pcapgo reports an empty queue (EAGAIN)
// only in its error's text.
func (c *Capture) readReady(wait time.Duration) (int, error) {
	n := 0
	for {
		data, ci, err := c.handle.ZeroCopyReadPacketData()
		if err == nil {
			c.file(data, ci)
			n++
			wait = 0 // once packets came, read on only while they are queued
			continue
		}
		if !strings.HasSuffix(err.Error(), unix.EAGAIN.Error()) {
			return n, fmt.Errorf("read packet: %w", err)
		}
		if wait <= 0 {
			return n, nil
		}
		ts := unix.NsecToTimespec(int64(wait))
		ready, err := unix.Ppoll([]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}, &ts, nil)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return n, fmt.Errorf("poll capture socket: %w", err)
		case ready == 0:
			return n, nil
		}
	}
}

// drainSentinel reads the barrier datagrams back so they do not pile up
// in the barrier socket.
func drainSentinel(s *net.UDPConn) {
	buf := make([]byte, 64)
	for {
		if _, _, err := s.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

// file decodes one frame and files it under its connection. Packets
// queued before the filter was attached come before the first barrier:
// they are skipped.
func (c *Capture) file(data []byte, ci gopacket.CaptureInfo) {
	now := time.Now()
	if err := c.parser.DecodeLayers(data, &c.decoded); err != nil || len(c.decoded) < 3 {
		if c.started {
			c.other++
		}
		return
	}
	switch c.decoded[2] {
	case layers.LayerTypeUDP:
		if uint16(c.udp.DstPort) != c.sentPort || len(c.udp.Payload) != 8 {
			c.other++
			return
		}
		c.started = true
		c.synced = max(c.synced, binary.BigEndian.Uint64(c.udp.Payload))
		return
	case layers.LayerTypeTCP:
	default:
		return
	}
	if !c.started {
		return
	}
	tcp, ip4 := &c.tcp, &c.ip4
	port := layers.TCPPort(c.cfg.Port)
	var from Side
	var proxy, backend netip.AddrPort
	src, _ := netip.AddrFromSlice(ip4.SrcIP.To4())
	dst, _ := netip.AddrFromSlice(ip4.DstIP.To4())
	switch {
	case tcp.DstPort == port:
		from, proxy, backend = SideProxy, netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort))
	case tcp.SrcPort == port:
		from, proxy, backend = SideBackend, netip.AddrPortFrom(dst, uint16(tcp.DstPort)), netip.AddrPortFrom(src, uint16(tcp.SrcPort))
	default:
		c.other++
		return
	}
	p := Packet{
		// The kernel's wall-clock stamp, moved onto the monotonic clock by
		// its age now.
		At:   now.Add(ci.Timestamp.Sub(now.Round(0))),
		Info: ci, From: from, Seq: tcp.Seq, Ack: tcp.Ack,
		Payload: max(0, int(ip4.Length)-int(ip4.IHL)*4-int(tcp.DataOffset)*4),
		Data:    append([]byte(nil), data...),
	}
	p.Info.CaptureLength = len(p.Data)
	p.Info.AncillaryData = nil
	for _, fl := range []struct {
		on bool
		f  Flags
	}{{tcp.SYN, FlagSYN}, {tcp.FIN, FlagFIN}, {tcp.RST, FlagRST}, {tcp.ACK, FlagACK}, {tcp.PSH, FlagPSH}} {
		if fl.on {
			p.Flags |= fl.f
		}
	}
	if c.flows.add(proxy, backend, p, c.cfg.Filtering == FilterUser) {
		c.packets++
	} else {
		c.dups++
	}
}

// Stats counts what the capture read so far.
func (c *Capture) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		if st, err := c.handle.Stats(); err == nil {
			c.kernelDrops += int(st.Drops)
		}
	}
	conns, evicted := c.flows.count()
	return Stats{Packets: c.packets, Duplicates: c.dups, Other: c.other,
		Conns: conns, Evicted: evicted, KernelDrops: c.kernelDrops, RecvBuffer: c.rcvbuf}
}

// Close releases the socket. The connections read so far stay readable.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.handle.Close()
	return c.sentinel.Close()
}
