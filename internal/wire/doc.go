// Package wire captures the proxy↔backend traffic of a racelab cell on
// loopback and reads the stale-connection race off it: which side of the
// reused connection sent its FIN or RST first, when, relative to the
// victim request's first byte on that connection, and whether request
// bytes reached a socket the backend had already closed.
//
// A Capture is one AF_PACKET socket on an interface (lo) with a classic
// BPF filter for one backend TCP port, read through gopacket's pure-Go
// pcapgo.EthernetHandle (no cgo, no libpcap) and decoded with gopacket's
// layers. It needs root or CAP_NET_RAW; without them Start returns an
// error that wraps ErrUnavailable and says why, so a caller records
// "capture unavailable: …" instead of losing the evidence silently.
//
// On lo every packet passes the packet tap twice, once leaving and once
// arriving. The kernel filter keeps only the arriving copy (its packet
// type is PACKET_HOST, the leaving one PACKET_OUTGOING); with userspace
// filtering, where the packet type is not visible, a frame identical to
// the one just before it on the same connection is dropped as that copy.
//
// A Capture has no goroutine of its own: packets wait in the socket's
// receive queue, which the filter keeps to the port's packets cut to the
// snap length, and Sync reads them in the caller's goroutine up to a
// barrier datagram it sends through lo; Drain reads what is queued
// without waiting.
//
// Memory is bounded: at most Config.MaxConns connections, each keeping
// its last Config.MaxPackets packets of at most Config.SnapLen bytes;
// Prune drops the connections a caller is done with.
//
// Analyze turns one connection's packets into results.WireEvidence, and
// WritePcap writes them as a pcap file that Wireshark and tshark read.
package wire
