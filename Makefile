# rzpgate: the two commands a new machine needs are `make run` and `make test`;
# each installs what it lacks first.
GO      ?= go
BENCH   ?= .
FUZZTIME ?= 30s

.PHONY: run demo fake build test vet bench fuzz deps redis-server

## run: the gateway on the in-memory default (:8080, admin :9090, upstream api.razorpay.com)
run: deps
	$(GO) run ./cmd/proxy $(ARGS)

## demo: the gateway in front of the fake Razorpay, offline (gateway :8080, fake :9100)
demo: deps
	$(GO) build -o bin/fakerazorpay ./cmd/fakerazorpay
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rzpgate ./cmd/proxy
	bin/fakerazorpay -listen 127.0.0.1:9100 & trap 'kill $$!' EXIT INT TERM; \
	RZPGATE_UPSTREAM_URL=http://127.0.0.1:9100 bin/rzpgate

## fake: the fake Razorpay alone on 127.0.0.1:9100
fake:
	$(GO) run ./cmd/fakerazorpay

# VERSION is stamped into the binary (rzpgate_build_info's version label).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rzpgate ./cmd/proxy
	$(GO) build -o bin/fakerazorpay ./cmd/fakerazorpay

## test: vet, gofmt check, and the whole suite under the race detector (Redis tests start their own redis-server)
test: deps redis-server vet
	$(GO) test -race -count=1 ./...

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: Go benchmarks with allocations (BENCH=regexp to pick)
bench: deps
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem ./...

## fuzz: each fuzz target for FUZZTIME
fuzz: deps
	$(GO) test -run='^$$' -fuzz=FuzzCanonicalQuery -fuzztime=$(FUZZTIME) ./internal/proxy/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./internal/config/
	$(GO) test -run='^$$' -fuzz=FuzzByteSize -fuzztime=$(FUZZTIME) ./internal/config/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeEntry -fuzztime=$(FUZZTIME) ./internal/cache/

deps:
	@$(GO) mod download

# The Redis integration tests start their own redis-server from PATH. Debian's
# package provides it; install it when missing (needs root, as on CI).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
