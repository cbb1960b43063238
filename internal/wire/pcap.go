package wire

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// WritePcap writes the flows' packets, in time order, to a pcap file
// (Ethernet link type, as lo is captured) that Wireshark and tshark read.
// Frames are cut to the capture's snap length; the file records each
// frame's full length.
func WritePcap(path string, snapLen int, flows ...Flow) (err error) {
	var pk []Packet
	for _, f := range flows {
		pk = append(pk, f.Packets...)
	}
	sort.SliceStable(pk, func(i, j int) bool { return pk[i].At.Before(pk[j].At) })
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write pcap: %w", err)
	}
	defer func() { err = errors.Join(err, file.Close()) }()
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	w := pcapgo.NewWriterNanos(file)
	if err := w.WriteFileHeader(uint32(snapLen), layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("write pcap %s: %w", path, err)
	}
	for _, p := range pk {
		if err := w.WritePacket(p.Info, p.Data); err != nil {
			return fmt.Errorf("write pcap %s: %w", path, err)
		}
	}
	return nil
}
