package wire

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Frame offsets on lo, whose link layer is a zeroed Ethernet header.
const (
	ethLen       = 14
	offEtherType = 12
	offIPProto   = ethLen + 9
	offIPFrag    = ethLen + 6
	etherTypeIP4 = 0x0800
	protoTCP     = 6
	protoUDP     = 17
	// packetOutgoing is skb->pkt_type of the copy the tap sees leaving.
	packetOutgoing = 4
)

// kernelFilter is the socket filter for TCP port port (either direction)
// and UDP to port sentinel (the capture's own barrier datagrams), arriving
// copies only, cut to snap bytes.
func kernelFilter(port, sentinel uint16, snap uint32) ([]bpf.RawInstruction, error) {
	const (
		drop   = 255 // placeholders resolved below
		accept = 254
	)
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: drop},
		bpf.LoadAbsolute{Off: offEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIP4, SkipTrue: drop},
		bpf.LoadAbsolute{Off: offIPFrag, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: drop},
		bpf.LoadMemShift{Off: ethLen},
		bpf.LoadAbsolute{Off: offIPProto, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipTrue: 5}, // to the UDP check
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoTCP, SkipTrue: drop},
		bpf.LoadIndirect{Off: ethLen, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipTrue: accept},
		bpf.LoadIndirect{Off: ethLen + 2, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipTrue: accept, SkipFalse: drop},
		bpf.LoadIndirect{Off: ethLen + 2, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(sentinel), SkipTrue: accept, SkipFalse: drop},
	}
	dropAt := len(prog)
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: snap})
	acceptAt := dropAt + 1
	for i, ins := range prog {
		j, ok := ins.(bpf.JumpIf)
		if !ok {
			continue
		}
		fix := func(skip uint8) uint8 {
			switch skip {
			case drop:
				return uint8(dropAt - i - 1)
			case accept:
				return uint8(acceptAt - i - 1)
			}
			return skip
		}
		j.SkipTrue, j.SkipFalse = fix(j.SkipTrue), fix(j.SkipFalse)
		prog[i] = j
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	return raw, nil
}
