# Strata build, run and test entry points. See README.md.
GO       ?= go
BIN      := bin/strata
TOOLS    := $(CURDIR)/bin/tools
export PATH := $(TOOLS):$(PATH)

.PHONY: build run test test-short deps vet fmt fuzz bench clean

build:
	$(GO) build -o $(BIN) ./cmd/strata

run: build
	./$(BIN) node --data-dir ./data

# deps installs the external programs the test suite drives: versitygw (a
# real S3 server) into bin/tools, and kcat from Debian when running as root.
deps:
	@./scripts/deps.sh

test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	FUZZTIME=5s ./scripts/fuzz.sh

fuzz:
	FUZZTIME=$${FUZZTIME:-2m} ./scripts/fuzz.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./node/... ./objectstore/...

test-short: build
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

clean:
	rm -rf bin data
