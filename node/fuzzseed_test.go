package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record/recordtest"
)

// TestWriteFuzzSeeds regenerates the checked-in seed corpus of FuzzRequest
// (testdata/fuzz/FuzzRequest) when STRATA_WRITE_FUZZ_SEEDS=1: realistic
// produce, fetch and metadata frames that the mutator starts from.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("STRATA_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set STRATA_WRITE_FUZZ_SEEDS=1 to regenerate the FuzzRequest seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{}

	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = -1
	prod.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fuzz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = recordtest.Batch(recordtest.Options{ProducerID: -1, FirstTimestamp: 1700000000000}, recordtest.Records(3, 20, 1))
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	seeds["produce-v9"] = frameBody(prod, 9)
	seeds["produce-v3"] = frameBody(prod, 3)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	fetch.IsolationLevel = 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "fuzz"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	seeds["fetch-v11"] = frameBody(fetch, 11)
	seeds["fetch-v4"] = frameBody(fetch, 4)

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("fuzz")
	md.Topics = append(md.Topics, mt)
	seeds["metadata-v12"] = frameBody(md, 12)
	seeds["metadata-v0"] = frameBody(md, 0)

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "fuzz"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -3
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	seeds["listoffsets-v7"] = frameBody(lo, 7)

	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
