package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func kcatPath(t *testing.T) string {
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (run `make deps` as root or `apt-get install kcat`); skipping kcat tests")
	}
	return p
}

func TestKcatProduceConsume(t *testing.T) {
	kcat := kcatPath(t)
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "kcat-" + codec
			createTopic(t, addr, topic, 1, nil)
			var in bytes.Buffer
			var want []string
			for i := 0; i < 500; i++ {
				line := fmt.Sprintf("key%d:%s", i, strings.Repeat(fmt.Sprintf("value %d ", i), 1+i%7))
				want = append(want, line)
				in.WriteString(line + "\n")
			}
			prod := exec.Command(kcat, "-b", addr, "-P", "-t", topic, "-K", ":", "-z", codec, "-X", "acks=all")
			prod.Stdin = &in
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, out)
			}
			cons := exec.Command(kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\n")
			out, err := cons.Output()
			if err != nil {
				t.Fatalf("kcat consume: %v\n%s", err, out)
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(got) != len(want) {
				t.Fatalf("consumed %d lines, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("line %d: %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
	// Metadata listing works.
	out, err := exec.Command(kcat, "-b", addr, "-L").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kcat-zstd") {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
}
