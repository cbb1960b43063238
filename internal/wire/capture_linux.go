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
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Capture is a running capture of one backend port's connections.
type Capture struct {
	cfg      Config
	handle   *pcapgo.EthernetHandle
	flows    *flows
	sentinel *net.UDPConn
	sentPort uint16
	backend4 netip.Addr

	syncMu  sync.Mutex
	synced  uint64        // the last barrier datagram the reader saw
	advance chan struct{} // closed and replaced when synced moves
	next    atomic.Uint64 // the last barrier datagram sent

	packets, dups, other atomic.Int64
	kernelDrops          atomic.Int64
	closing              atomic.Bool
	done                 chan struct{}
	readErr              error
	closeOnce            sync.Once
	closeErr             error
	// rcvbuf is the socket's receive buffer as the kernel set it.
	rcvbuf int
}

// rcvBuf is the receive buffer asked for: a loaded machine can leave the
// reader off the CPU for milliseconds while lo carries thousands of
// packets a second, and the default buffer (about 200 KiB, a few hundred
// small packets) then overflows.
const rcvBuf = 8 << 20

// growBuffer raises the socket's receive buffer past the system limit
// (SO_RCVBUFFORCE, root or CAP_NET_ADMIN), or to it, and returns the size
// the kernel set (0: unknown). pcapgo keeps the descriptor unexported; it
// is read, not changed, through reflection.
func growBuffer(h *pcapgo.EthernetHandle, size int) int {
	fv := reflect.ValueOf(h).Elem().FieldByName("fd")
	if !fv.IsValid() || !fv.CanInt() {
		return 0
	}
	fd := int(fv.Int())
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
		return nil, fmt.Errorf("%w: open AF_PACKET socket on %s: %v (needs root or CAP_NET_RAW)", ErrUnavailable, cfg.Interface, err)
	}
	c := &Capture{cfg: cfg, handle: h, flows: newFlows(cfg.MaxConns, cfg.MaxPackets),
		advance: make(chan struct{}), done: make(chan struct{}), backend4: netip.MustParseAddr("127.0.0.1")}
	if err := h.SetCaptureLength(cfg.SnapLen); err != nil {
		h.Close()
		return nil, fmt.Errorf("start capture: %w", err)
	}
	c.rcvbuf = growBuffer(h, rcvBuf)
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("start capture: barrier socket: %w", err)
	}
	c.sentinel = s
	c.sentPort = uint16(s.LocalAddr().(*net.UDPAddr).Port)
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
	go c.drainSentinel()
	go c.read()
	sctx, cancel := context.WithTimeout(ctx, startSyncWait)
	defer cancel()
	if err := c.Sync(sctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: no packet seen on %s within %s (%v)", ErrUnavailable, cfg.Interface, startSyncWait, err)
	}
	return c, nil
}

// Sync returns once every packet the kernel saw before the call has been
// read: it sends a barrier datagram through the capture and waits for it.
// Packets that caused something the caller has already observed (a
// response, a reset) were captured before that observation, so after Sync
// they are in the capture's connections.
func (c *Capture) Sync(ctx context.Context) error {
	seq := c.next.Add(1)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	if _, err := c.sentinel.WriteToUDP(b[:], c.sentinel.LocalAddr().(*net.UDPAddr)); err != nil {
		return fmt.Errorf("sync capture: %w", err)
	}
	for {
		c.syncMu.Lock()
		synced, ch := c.synced, c.advance
		c.syncMu.Unlock()
		if synced >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-c.done:
			if c.readErr != nil {
				return fmt.Errorf("sync capture: %w", c.readErr)
			}
			return errors.New("sync capture: capture closed")
		case <-ctx.Done():
			return fmt.Errorf("sync capture: %w", ctx.Err())
		}
	}
}

// drainSentinel reads the barrier datagrams back so they do not pile up
// in the barrier socket.
func (c *Capture) drainSentinel() {
	buf := make([]byte, 64)
	for {
		if _, _, err := c.sentinel.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

func (c *Capture) read() {
	defer close(c.done)
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		tcp     layers.TCP
		udp     layers.UDP
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp, &udp)
	parser.IgnoreUnsupported = true
	port := layers.TCPPort(c.cfg.Port)
	dedupe := c.cfg.Filtering == FilterUser
	// Packets queued before the filter was attached come before the first
	// barrier: they are skipped.
	started := false
	for {
		data, ci, err := c.handle.ZeroCopyReadPacketData()
		if err != nil {
			if !c.closing.Load() {
				c.readErr = fmt.Errorf("read packet: %w", err)
			}
			return
		}
		now := time.Now()
		if err := parser.DecodeLayers(data, &decoded); err != nil || len(decoded) < 3 {
			if started {
				c.other.Add(1)
			}
			continue
		}
		switch decoded[2] {
		case layers.LayerTypeUDP:
			if uint16(udp.DstPort) != c.sentPort || len(udp.Payload) != 8 {
				c.other.Add(1)
				continue
			}
			started = true
			c.syncTo(binary.BigEndian.Uint64(udp.Payload))
			if c.closing.Load() {
				return
			}
			continue
		case layers.LayerTypeTCP:
		default:
			continue
		}
		if !started {
			continue
		}
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
			c.other.Add(1)
			continue
		}
		p := Packet{
			// The kernel's wall-clock stamp, moved onto the monotonic clock
			// by its age now.
			At:   now.Add(ci.Timestamp.Sub(now.Round(0))),
			Info: ci, From: from, Seq: tcp.Seq, Ack: tcp.Ack,
			Payload: int(ip4.Length) - int(ip4.IHL)*4 - int(tcp.DataOffset)*4,
			Data:    append([]byte(nil), data...),
		}
		p.Info.CaptureLength = len(p.Data)
		p.Info.AncillaryData = nil
		if p.Payload < 0 {
			p.Payload = 0
		}
		for _, fl := range []struct {
			on bool
			f  Flags
		}{{tcp.SYN, FlagSYN}, {tcp.FIN, FlagFIN}, {tcp.RST, FlagRST}, {tcp.ACK, FlagACK}, {tcp.PSH, FlagPSH}} {
			if fl.on {
				p.Flags |= fl.f
			}
		}
		if c.flows.add(proxy, backend, p, dedupe) {
			c.packets.Add(1)
		} else {
			c.dups.Add(1)
		}
	}
}

func (c *Capture) syncTo(seq uint64) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if seq > c.synced {
		c.synced = seq
		close(c.advance)
		c.advance = make(chan struct{})
	}
}

// Stats counts what the capture saw so far.
func (c *Capture) Stats() Stats {
	if st, err := c.handle.Stats(); err == nil && !c.closing.Load() {
		c.kernelDrops.Add(int64(st.Drops))
	}
	conns, evicted := c.flows.count()
	return Stats{Packets: int(c.packets.Load()), Duplicates: int(c.dups.Load()), Other: int(c.other.Load()),
		Conns: conns, Evicted: evicted, KernelDrops: int(c.kernelDrops.Load()), RecvBuffer: c.rcvbuf}
}

// closeWait bounds the wait for the reader to see the last barrier.
const closeWait = 2 * time.Second

// Close stops the capture and releases the socket. The reader blocks in
// recvmsg, so it is woken by one last barrier datagram.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		err := c.Sync(ctx)
		select {
		case <-c.done:
			c.handle.Close()
		case <-ctx.Done():
			// The reader is stuck in recvmsg: leave the socket to it
			// rather than close the descriptor under it.
			c.closeErr = fmt.Errorf("close capture: reader did not stop: %v", err)
		}
		_ = c.sentinel.Close()
		if c.readErr != nil {
			c.closeErr = errors.Join(c.closeErr, c.readErr)
		}
	})
	return c.closeErr
}
