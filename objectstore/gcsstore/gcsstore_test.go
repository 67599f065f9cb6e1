package gcsstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/gcsstore"
	"github.com/stratalog/strata/objectstore/storetest"
	"github.com/stratalog/strata/objectstore/testservers"
)

func TestConformance(t *testing.T) {
	srv := testservers.StartFakeGCS(t)
	srv.SetEmulatorEnv(t)
	bucket := srv.CreateBucket(t, "")
	n := 0
	storetest.Run(t, func(t *testing.T) objectstore.Store {
		n++
		cfg := gcsstore.Default()
		cfg.Bucket = bucket
		cfg.Prefix = fmt.Sprintf("run-%d/", n)
		s, err := gcsstore.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.Options{})
}
