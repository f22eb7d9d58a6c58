# Agora's build and test entry points. `make test` is what CI runs.
GO ?= go

.PHONY: all build test vet fmt-check fuzz clean

all: build

build:
	$(GO) build -o agora ./cmd/agora

# Every test: unit, integration and the black-box check of the built binary.
test: fmt-check vet
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Each fuzz target for a minute (FUZZTIME=10s for a quick pass; CI runs
# that after make test, from .ci/run).
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -f agora
