# backflow: every target builds with the duckdb_arrow tag (DuckDB's Arrow
# interface). The first build compiles DuckDB's static library through cgo
# and takes about a minute; later builds are cached.
GO        ?= go
TAGS      := duckdb_arrow
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TESTFLAGS ?= -count=1

.PHONY: build test bench soak demo lint

build:
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o bin/backflow ./cmd/backflow

# The packages with concurrency of their own (API clients, connectors,
# extraction, load, the pipeline) run under the race detector; the rest
# without it.
RACE_PKGS := ./api/... ./connector/... ./extract/... ./load/... ./pipeline/...

test:
	$(GO) vet -tags $(TAGS) ./...
	@# The layering docs/architecture.md states.
	@bad=$$($(GO) list -tags $(TAGS) -deps ./extract ./load ./models ./pipeline ./serve | grep -E 'backflow/(project|connector/)'); \
		if [ -n "$$bad" ]; then echo "an engine imports a connector or the project loader:"; echo "$$bad"; exit 1; fi
	@for c in $$($(GO) list ./connector/... | grep -v -E '/connector$$|/builtin$$'); do \
		bad=$$($(GO) list -tags $(TAGS) -deps $$c | grep 'backflow/connector/' | grep -v -x "$$c"); \
		if [ -n "$$bad" ]; then echo "$$c imports another connector:"; echo "$$bad"; exit 1; fi; \
	done
	@bad=$$($(GO) list -tags $(TAGS) -deps ./api/... | grep 'backflow/' | grep -v 'backflow/api/'); \
		if [ -n "$$bad" ]; then echo "api/ imports backflow packages outside api/:"; echo "$$bad"; exit 1; fi
	@# go install builds without the duckdb_arrow tag: that build must work too.
	$(GO) build -o /dev/null ./cmd/backflow
	$(GO) test $(TESTFLAGS) ./warehouse ./extract ./connector/memfile
	$(GO) test -tags $(TAGS) $(TESTFLAGS) -race $(RACE_PKGS)
	$(GO) test -tags $(TAGS) $(TESTFLAGS) $$($(GO) list -tags $(TAGS) ./... | grep -v -E '/(api|connector|extract|load|pipeline)(/|$$)')

# Each headline figure prints on a line of its own: "bench: NAME VALUE UNIT".
# One package at a time (-p 1): two benchmarks sharing the 2 cores skew both.
bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -count=1 -p 1 ./... | tee bench.out | grep -E '^(bench:|ok|FAIL|---)'

# The soak: a simulated week of hourly runs against the living sandbox,
# under fault storms and SIGKILLs, with the invariants checked after every
# clean run (make test runs 8 simulated hours of it). SOAK_SEED replays a
# reported violation.
SOAK_HOURS ?= 168
SOAK_SEED  ?= 1
soak:
	@BACKFLOW_SOAK_HOURS=$(SOAK_HOURS) BACKFLOW_SOAK_SEED=$(SOAK_SEED) $(GO) test -tags $(TAGS) -count=1 -timeout 60m -run '^TestSoak$$' -v ./cmd/backflow \
		> soak.out 2>&1; status=$$?; grep -E '^(bench:|ok|FAIL|---|    soak_test|        hour)' soak.out; exit $$status

# The demo's present: the same instant always prints the same counts.
DEMO_NOW ?= 2026-12-01T15:00:00-05:00

demo: build
	./bin/backflow demo --now $(DEMO_NOW)

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@# Build outputs and data stay out of git: no tracked file over 5 MB.
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		big=$$(git ls-files -z | xargs -0 stat -c '%s %n' 2>/dev/null | awk '$$1 > 5242880 {print "  " $$2 " (" int($$1/1048576) " MB)"}'); \
		if [ -n "$$big" ]; then echo "tracked files over 5 MB (add them to .gitignore and git rm --cached them):"; echo "$$big"; exit 1; fi; \
	fi
	$(GO) vet -tags $(TAGS) ./...
