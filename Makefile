# posagent — build, test and run.
#
# The two set-up commands are `make run` and `make test`; both install what they need on a
# fresh Debian 12 machine (apt-get as root, skipped when already present).

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH       := /usr/local/go/bin:$(PATH)
# Fixed cache paths: cgo SQLite costs ~40 s per architecture when these are cold.
export GOCACHE    ?= $(HOME)/.cache/go-build
export GOMODCACHE ?= $(HOME)/go/pkg/mod
export GOFLAGS    ?= -buildvcs=false

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
TOOLS     := $(HOME)/.cache/posagent/tools
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
TAGS      := sqlite_omit_load_extension,osusergo,netgo
LDFLAGS   := -X main.version=$(VERSION) -X github.com/posagent/posagent/board.buildDate=$(shell date -u +%F)
STATIC    := -linkmode external -extldflags -static
FUZZTIME  ?= 5s
QEMU_CACHE ?= $(HOME)/.cache/posagent/qemu
BENCHTIME ?= 1s

ARM64_ENV := CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc
ARMV7_ENV := CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc

# Debian packages the build and the test suite use (real components, started by the tests).
APT_PKGS := gcc libc6-dev make binutils cpio xz-utils openssl sqlite3 socat \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
	qemu-user qemu-system-arm e2fsprogs swtpm swtpm-tools libxml2-utils xsltproc zbar-tools

.PHONY: help
help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install build/test dependencies (apt, Go modules, qemu-user exec wrappers)
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install:$$missing" >&2; exit 1; fi; \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p $(TOOLS)/bin
	@printf '#!/bin/sh\n# go test/go run for GOARCH=arm64 under qemu-user; self-re-executing tests prefix $$POSAGENT_EXEC_PREFIX.\nexport POSAGENT_EXEC_PREFIX="qemu-aarch64 -L /usr/aarch64-linux-gnu"\nexec qemu-aarch64 -L /usr/aarch64-linux-gnu "$$@"\n' > $(TOOLS)/bin/go_linux_arm64_exec
	@printf '#!/bin/sh\n# go test/go run for GOARCH=arm under qemu-user; self-re-executing tests prefix $$POSAGENT_EXEC_PREFIX.\nexport POSAGENT_EXEC_PREFIX="qemu-arm -L /usr/arm-linux-gnueabihf"\nexec qemu-arm -L /usr/arm-linux-gnueabihf "$$@"\n' > $(TOOLS)/bin/go_linux_arm_exec
	@chmod +x $(TOOLS)/bin/*
	@$(GO) mod download

.PHONY: build
build: ## Build all commands for this machine into bin/
	@mkdir -p $(BIN)
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: build-arm64
build-arm64: deps ## Static linux/arm64 binaries into bin/linux-arm64/
	@mkdir -p $(BIN)/linux-arm64
	$(ARM64_ENV) $(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS) $(STATIC)' -o $(BIN)/linux-arm64/ ./cmd/...
	@$(MAKE) --no-print-directory check-static DIR=$(BIN)/linux-arm64 MACHINE=AArch64

.PHONY: build-armv7
build-armv7: deps ## Static linux/arm (ARMv7 hard-float) binaries into bin/linux-armv7/
	@mkdir -p $(BIN)/linux-armv7
	$(ARMV7_ENV) $(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS) $(STATIC)' -o $(BIN)/linux-armv7/ ./cmd/...
	@$(MAKE) --no-print-directory check-static DIR=$(BIN)/linux-armv7 MACHINE=ARM

.PHONY: check-static
check-static:
	@for f in $(DIR)/*; do \
	  readelf -h $$f | grep -q "Machine:.*$(MACHINE)" || { echo "$$f: not $(MACHINE)" >&2; exit 1; }; \
	  if readelf -l $$f | grep -q INTERP; then echo "$$f: not static" >&2; exit 1; fi; \
	  echo "ok  $$f: static $(MACHINE) ELF"; \
	done

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags qemu ./board/qemu/

.PHONY: test
test: deps lint test-native fuzz-short test-arm64 build-arm64 build-armv7 test-qemu ## The whole suite: native, fuzz, arm64 under qemu-user, static ARM builds, the arm64 guest

.PHONY: test-native
test-native: deps ## Unit, integration and crash tests on this machine (real SQLite, swtpm, ptys, HTTP)
	$(GO) test -count=1 ./...

.PHONY: test-race
test-race: deps ## The suite with the race detector
	$(GO) test -count=1 -race ./...

.PHONY: test-arm64
test-arm64: deps ## The suite as linux/arm64 binaries under qemu-user (-short: long soak sizes scaled down)
	PATH=$(TOOLS)/bin:$$PATH $(ARM64_ENV) $(GO) test -count=1 -short ./...

.PHONY: test-qemu
test-qemu: deps ## Boot the arm64 guest in qemu-system (vTPM, serial printer, ext4 disk, network): device checks, posagentd with 50 sales, a power cut
	POSAGENT_QEMU_CACHE=$(QEMU_CACHE) board/qemu/setup.sh >/dev/null
	POSAGENT_QEMU_CACHE=$(QEMU_CACHE) $(GO) test -tags qemu -count=1 -timeout 30m -v -run 'TestSmoke|TestBootTimeoutAndCancel|TestDaemonInGuest' ./board/qemu/

.PHONY: fuzz-short
fuzz-short: deps ## Run every fuzz target briefly (FUZZTIME, default 5s)
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg >/dev/null || \
	      { $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; exit 1; }; \
	  done; \
	done

.PHONY: bench
bench: deps ## Benchmarks (figures, not pass/fail)
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

.PHONY: golden
golden: ## Re-record golden files (review the diff before committing)
	@for d in $$(grep -rl --include='*_test.go' 'flag.Bool("update"' . | xargs -n1 dirname | sort -u); do \
	  $(GO) test -count=1 ./$$d -update; done

.PHONY: run
run: deps build ## Run the product under ./var: swtpm, fatoora-sim, printer-sim, posagentd; onboard, demo sale; Ctrl-C stops all
	$(BIN)/posagent-demo -var var -bin $(BIN) -repo .

.PHONY: clean
clean: ## Remove build outputs and local state
	rm -rf $(BIN) var
