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

clean:
	rm -rf bin $(BENCHOUT)
