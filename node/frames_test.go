package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// Limits of the fuzzed frame reader: small, so that frames over the frame
// limit, over the budget, and frames that must wait for it all occur.
const (
	fuzzFrameMax  = 3000
	fuzzBudget    = 2048
	fuzzPieceMax  = 700
	fuzzMaxFrames = 64
	fuzzDataMax   = 16 << 10
	fuzzPauses    = 4 // pauses per input, between pieces
)

// oneShotFrames splits data the simple way, all at once: the frames a
// correct reader yields, in order, until the first invalid size or the end.
func oneShotFrames(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 4 && len(out) < fuzzMaxFrames {
		size := int32(binary.BigEndian.Uint32(data))
		if checkFrameSize(size, fuzzFrameMax, fuzzBudget) != nil || len(data)-4 < int(size) {
			break
		}
		out = append(out, data[4:4+int(size)])
		data = data[4+int(size):]
	}
	return out
}

// FuzzFrameReader feeds arbitrary bytes in arbitrary pieces, with pauses,
// through a real connection to the frame reader. It must never panic,
// never hold more than the budget (each frame is released a little later,
// from another goroutine, as the connection's writer would), and yield
// exactly the frames of a one-shot read.
func FuzzFrameReader(f *testing.F) {
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	body := func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }
	f.Add(frame(body(8)), []byte{1, 2, 3})
	f.Add(append(frame(body(1500)), frame(body(1500))...), []byte{4, 200, 9, 0})
	f.Add(append(frame(body(2000)), frame(body(9000))...), []byte{255})
	f.Add(append(append(frame(body(100)), frame(body(2048))...), 0, 0), []byte{1})
	f.Add(binary.BigEndian.AppendUint32(nil, 100<<20), []byte{2})
	f.Fuzz(fuzzFrameBody)
}

func fuzzFrameBody(t *testing.T, data, pieces []byte) {
	if len(data) > fuzzDataMax {
		data = data[:fuzzDataMax]
	}
	want := oneShotFrames(data)
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		defer client.Close()
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(pieces) > 0 {
				n = min(n, 1+int(pieces[i%len(pieces)])*fuzzPieceMax/256)
			}
			if _, err := client.Write(rest[:n]); err != nil {
				return // the reader stopped: an invalid frame
			}
			rest = rest[n:]
			if i%7 == 3 && i < 7*fuzzPauses {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	budget := newMemBudget(fuzzBudget, false)
	fr := frameReader{br: bufio.NewReaderSize(server, 512), setDeadline: server.SetReadDeadline, budget: budget}
	released := make(chan struct{}, fuzzMaxFrames)
	var got [][]byte
	var stop error
	for len(got) < fuzzMaxFrames {
		_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
		size, err := fr.readSize()
		if err != nil {
			stop = err
			break
		}
		if err := checkFrameSize(size, fuzzFrameMax, fuzzBudget); err != nil {
			stop = err
			break
		}
		b, held, err := fr.readBody(context.Background(), size, time.Now().Add(10*time.Second))
		if err != nil {
			if errors.Is(err, errFrameTimeout) {
				t.Fatalf("frame %d timed out: %v", len(got), err)
			}
			stop = err
			break
		}
		if held != int64(len(b)) || cap(b) != len(b) {
			t.Fatalf("frame of %d bytes holds %d of the budget in a buffer of %d", len(b), held, cap(b))
		}
		got = append(got, b)
		go func() {
			time.Sleep(50 * time.Microsecond)
			budget.release(held)
			released <- struct{}{}
		}()
	}
	server.Close()
	for range got {
		<-released
	}
	if p := budget.peak(); p > fuzzBudget {
		t.Fatalf("budget peak %d over its limit %d", p, fuzzBudget)
	}
	if u := budget.used(); u != 0 {
		t.Fatalf("%d budget bytes still held after every frame was released", u)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d frames, one-shot read %d (reader stopped: %v)", len(got), len(want), stop)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs from the one-shot read", i)
		}
	}
}
