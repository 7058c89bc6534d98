# gonetsh: `make run` builds and opens the interactive prompt on the local
# store; `make test` runs every test (root-only tests run under CI=true).
GO      ?= go
GOFLAGS ?=
BENCHOUT ?= bench/out

.PHONY: all build run test vet bench fuzz clean

all: build

build:
	$(GO) build -o bin/netsh ./cmd/netsh

run: build
	./bin/netsh

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

# Benchmarks write their figures to $(BENCHOUT); they are never run by `make test`.
bench: build
	mkdir -p $(BENCHOUT)
	$(GO) test -run='^$$' -bench=. -benchmem ./... | tee $(BENCHOUT)/go-bench.txt
	./bench/script.sh $(BENCHOUT) | tee $(BENCHOUT)/script.txt
	./bench/throughput.sh $(BENCHOUT)
	rm -f $(BENCHOUT)/charon-rate.txt
	CHARONTEST_RATE_OUT=$(abspath $(BENCHOUT))/charon-rate.txt $(GO) test -count=1 -timeout 30m -run='^TestNegotiationRate$$' -v ./internal/charontest >$(BENCHOUT)/charon-rate.log 2>&1; \
	  rc=$$?; grep -v '^        [0-9]' $(BENCHOUT)/charon-rate.log; exit $$rc
	rm -f $(BENCHOUT)/ike-rate.txt
	GONETSH_RATE_OUT=$(abspath $(BENCHOUT))/ike-rate.txt $(GO) test -count=1 -timeout 30m -run='^TestNegotiationRate$$' -v ./engine/ike >$(BENCHOUT)/ike-rate.log 2>&1; \
	  rc=$$?; grep -v '^        [0-9]' $(BENCHOUT)/ike-rate.log; exit $$rc

# What the interop tests need: strongSwan's charon as the IKEv1 peer (with
# kernel-libipsec from the extra plugins, 3DES/GCM from openssl in the
# standard plugins), and the tools of the netns tests. As root `make deps`
# installs what is missing with apt-get (no recommends: they pull a kernel
# image and an initramfs trigger); it does nothing when all is there.
# Non-root it only reports. `make test` runs it first when run as root.
DEPS_PKGS  = strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins iperf3 tcpdump iputils-ping iproute2
DEPS_FILES = /usr/lib/ipsec/charon /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so /usr/lib/ipsec/plugins/libstrongswan-openssl.so
DEPS_CMDS  = swanctl iperf3 tcpdump ping ip
.PHONY: deps
deps:
	@missing=; \
	for f in $(DEPS_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	for c in $(DEPS_CMDS); do command -v "$$c" >/dev/null || [ -x "/usr/sbin/$$c" ] || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "deps: missing:$$missing"; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: run 'make deps' as root to install them"; exit 0; fi; \
	command -v apt-get >/dev/null || { echo "deps: no apt-get; install: $(DEPS_PKGS)"; exit 1; }; \
	DEBIAN_FRONTEND=noninteractive apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS_PKGS)

ifeq ($(shell id -u),0)
test: deps
endif

# Short fuzzing of every target (not part of make test, which runs the seeds).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./grammar
	$(GO) test -run='^$$' -fuzz='^FuzzConfigValue$$' -fuzztime=$(FUZZTIME) ./grammar
	$(GO) test -run='^$$' -fuzz='^FuzzOpen$$' -fuzztime=$(FUZZTIME) ./driver/esp
	$(GO) test -run='^$$' -fuzz='^FuzzUDPEncap$$' -fuzztime=$(FUZZTIME) ./driver/esp
	$(GO) test -run='^$$' -fuzz='^FuzzAHOpen$$' -fuzztime=$(FUZZTIME) ./driver/ah
	$(GO) test -run='^$$' -fuzz='^FuzzParseIPv4$$' -fuzztime=$(FUZZTIME) ./driver/sadb
	$(GO) test -run='^$$' -fuzz='^FuzzInbound$$' -fuzztime=$(FUZZTIME) ./driver
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./engine/ike
	$(GO) test -run='^$$' -fuzz='^FuzzReceive$$' -fuzztime=$(FUZZTIME) ./engine/ike

clean:
	rm -rf bin $(BENCHOUT)
