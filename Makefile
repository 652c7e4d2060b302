# rzpgate: the two commands a new machine needs are `make run` and `make test`;
# each installs what it lacks first.
GO      ?= go
BENCH   ?=
FUZZTIME ?= 30s

.PHONY: run demo fake build test test-deploy test-bench vet vet-deploy dashboard bench fuzz deps redis-server prometheus wrk nginx

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

## test: vet, gofmt check, and the whole suite under the race detector (Redis tests start their own redis-server),
## then the deploy module: dashboard, alert rules and both proved against a real Prometheus; then the bench harness's tests
test: deps redis-server prometheus vet
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory test-deploy
	$(MAKE) --no-print-directory test-bench

## test-deploy: the deploy module alone: dashboard JSON, promtool on the rules, the gateway scraped by a real Prometheus,
## helm lint and template of the chart decoded strictly and checked by the gateway's -check-config
test-deploy: redis-server prometheus deploy/bin/helm vet-deploy
	cd deploy && $(GO) test -race -count=1 ./...

# The deploy module (deploy/go.mod) has its own dependencies: the Grafana
# Foundation SDK and Prometheus' PromQL parser stay out of the gateway's.
vet-deploy:
	cd deploy && $(GO) mod download
	@cd deploy && out=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	cd deploy && $(GO) vet ./...

## dashboard: regenerate deploy/grafana/rzpgate.json from its Go code
dashboard:
	cd deploy && $(GO) generate ./grafana

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: the performance harness (tools/bench, issue 11): builds bin/rzpgate and bin/fakerazorpay from this tree, runs
## every scenario against nginx proxy_cache (installed from Debian's packages when missing; its comparisons are skipped
## if that fails) and a bare net/http server on loopback, prints one table and
## writes bin/bench/results.json and results.png. BENCHFLAGS adds flags (-quick, -only hit-memory,miss, -rounds 5,
## -duration 5s, -entries 100000, -loader go, -no-nginx). BENCH=regexp runs the Go benchmarks with allocations instead.
bench: deps wrk redis-server
	@if [ -z "$(BENCH)" ]; then $(MAKE) --no-print-directory nginx || echo "nginx could not be installed: its comparisons will be skipped"; fi
	@if [ -n "$(BENCH)" ]; then \
		echo "$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem ./..."; \
		$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem ./...; \
	else \
		set -e; \
		$(GO) build -ldflags "$(LDFLAGS)" -o bin/rzpgate ./cmd/proxy; \
		$(GO) build -o bin/fakerazorpay ./cmd/fakerazorpay; \
		(cd tools/bench && $(GO) build -o ../../bin/rzpbench ./cmd/rzpbench); \
		bin/rzpbench -rzpgate bin/rzpgate -fake bin/fakerazorpay -out bin/bench $(BENCHFLAGS); \
	fi

## test-bench: the harness's own module (tools/bench): gofmt, vet, and its tests under the race detector (wrk output,
## statistics, both load generators, and a -quick run of every scenario against binaries built from this tree)
test-bench: wrk redis-server
	cd tools/bench && $(GO) mod download
	@cd tools/bench && out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	cd tools/bench && $(GO) vet ./...
	cd tools/bench && $(GO) test -race -count=1 ./...

## fuzz: each fuzz target for FUZZTIME
fuzz: deps
	$(GO) test -run='^$$' -fuzz=FuzzCanonicalQuery -fuzztime=$(FUZZTIME) ./internal/proxy/
	$(GO) test -run='^$$' -fuzz=FuzzAppendJSONString -fuzztime=$(FUZZTIME) ./internal/proxy/
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

# wrk drives the bench harness's load (tools/bench): Debian's package,
# installed when missing (needs root, as on CI). Without it the harness falls
# back to its Go load generator, except with CI=true, where it fails.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

# apt_quiet installs the Debian package $(1) (needs root or sudo, as on CI)
# without letting its postinst start a service: where no policy-rc.d exists,
# one answering 101 (forbidden) stands in for the install. The tests and the
# harness start their own servers on free loopback ports.
define apt_quiet
echo "installing $(1) (Debian package)"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	rc=/usr/sbin/policy-rc.d; own=; \
	if [ ! -e $$rc ]; then own=1; printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$rc >/dev/null && $$SUDO chmod 755 $$rc; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(1) >/dev/null; \
	st=$$?; if [ -n "$$own" ]; then $$SUDO rm -f $$rc; fi; exit $$st
endef

# nginx, the proxy_cache peer of the bench harness (its service would listen
# on :80).
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { $(call apt_quiet,nginx); }

# promtool and prometheus for the deploy module's tests, installed when
# either is missing (its service would listen on :9090, rzpgate's admin
# port).
prometheus:
	@{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || { $(call apt_quiet,prometheus); }

# test-k8s proves the chart against a real Kubernetes API server (issue 10):
# kube-apiserver and kubectl built from the release deploy/k8s/go.mod pins,
# helm, and Debian's etcd, all on loopback. On 2 cores a cold build takes
# about 9 minutes and 2.2 GB for kube-apiserver, 1 more for kubectl and 3 to 6
# for helm; with a warm build cache the three link in about 40 seconds. The
# binaries are kept in the git-ignored deploy/bin and rebuilt only when
# missing (or, for the two Kubernetes ones, when go.mod or go.sum changes).
K8S_BIN      := deploy/bin
HELM_VERSION ?= v3.22.0
# K8S_VERSION is the pinned k8s.io/kubernetes release, stamped into both
# binaries so that /version and kubectl version report it.
K8S_VERSION   = $(shell cd deploy/k8s && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
K8S_LDFLAGS   = $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(K8S_VERSION)))) -X $(p).gitMinor=$(word 3,$(subst ., ,$(subst v,v ,$(K8S_VERSION)))) -X $(p).gitTreeState=clean)

.PHONY: k8s-tools test-k8s etcd

## test-k8s: the chart, default and with every toggle on, through kubectl apply --dry-run=server to a real kube-apiserver and etcd
test-k8s: k8s-tools
	cd deploy/k8s && $(GO) vet ./... && $(GO) test -count=1 ./...

## k8s-tools: kube-apiserver, kubectl and helm into deploy/bin, and etcd (Debian's etcd-server), when missing
k8s-tools: $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubectl $(K8S_BIN)/helm etcd

$(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubectl: deploy/k8s/go.mod deploy/k8s/go.sum
	@echo "building $(@F) $(K8S_VERSION) (minutes the first time)"
	cd deploy/k8s && $(GO) build -ldflags '$(K8S_LDFLAGS)' -o ../bin/$(@F) k8s.io/kubernetes/cmd/$(@F)

$(K8S_BIN)/helm:
	@echo "building helm $(HELM_VERSION) (minutes the first time)"
	GOBIN=$(CURDIR)/$(K8S_BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# etcd for test-k8s: Debian's etcd-server, installed when missing (needs root,
# as on CI). Its postinst would start an etcd service on the default ports;
# where no policy-rc.d exists, one answering 101 (forbidden) stops it for the
# install. The test starts its own etcd on free loopback ports.
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
		echo "installing etcd (Debian package etcd-server)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		rc=/usr/sbin/policy-rc.d; own=; \
		if [ ! -e $$rc ]; then own=1; printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$rc >/dev/null && $$SUDO chmod 755 $$rc; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends etcd-server >/dev/null; \
		st=$$?; if [ -n "$$own" ]; then $$SUDO rm -f $$rc; fi; exit $$st; }
