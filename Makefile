# election — the two commands a newcomer needs are `make run-cluster` and `make test`.
# Each installs what it needs (Debian packages), builds, starts the servers it
# needs and cleans up after itself.

SWIFT ?= swift
REPLICAS ?= 3
DURATION ?=

.PHONY: all deps build release test unit integration run-cluster format lint clean help

all: build

help:
	@echo "make run-cluster [REPLICAS=3] [DURATION=30]  3-server ZooKeeper + replicas on loopback, live view"
	@echo "make test                                     unit + integration tests against a real ZooKeeper"
	@echo "make build | release | format | lint | clean"

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Integration tests start their own ZooKeeper servers (Debian's package) on free
# loopback ports and stop them again; nothing is skipped when Java is missing:
# deps installs it.
test: deps
	@bash scripts/test.sh

unit: deps
	$(SWIFT) test --filter ElectionTests

integration: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel --filter IntegrationTests

run-cluster: release
	REPLICAS=$(REPLICAS) DURATION=$(DURATION) BINARY=.build/release/election bash scripts/run-cluster.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests

clean:
	rm -rf .build
