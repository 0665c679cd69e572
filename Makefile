# election — the two commands a newcomer needs are `make run-cluster` and `make test`.
# Each installs what it needs (Debian packages), builds, starts the servers it
# needs and cleans up after itself.

SWIFT ?= swift
REPLICAS ?= 3
DURATION ?=
ROUNDS ?= 5

.PHONY: all deps build release release-flags test unit integration run-cluster chaos bench format lint install mutants fuzz model clean help

all: build

help:
	@echo "make run-cluster [REPLICAS=3] [DURATION=30]  3-server ZooKeeper + replicas on loopback, live view"
	@echo "make bench [ROUNDS=5] [N=3] [SCALE_N=50]    failover times and footprint; table + bench/results/*.json"
	@echo "make chaos [ROUNDS=5] [PARTITION_ROUNDS=1]    fault injection, the partition suite, the clock-rate test (root)"
	@echo "make model                                    spin checks the protocol's model (scripts/model/)"
	@echo "make test                                     every test: the model, unit + integration (real ZooKeeper), a fuzz pass,"
	@echo "                                              run-cluster's Ctrl-C, security, lint, containers; as root short"
	@echo "                                              chaos, partition and clock-rate passes"
	@echo "make fuzz [FUZZ_SECONDS=60]                  libFuzzer over every parser of outside input"
	@echo "make mutants [MUTANTS=a,b]                   each safety rule removed in turn must fail the tests"
	@echo "make lint | install [PREFIX=/usr/local DESTDIR=]  static checks | install binary + systemd unit"
	@echo "make build | release | format | clean"

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Static Swift runtime: about 5 MiB less RSS per replica than shared libraries;
# lld links it without the warnings of the static Foundation archive.
# Packed relative relocations and no exported symbols: about 2 MiB less RSS per
# replica (the loader reads fewer relocations; the NIO code kept only for its
# exports goes); `make bench` measures it.
RELEASE_FLAGS = -c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs \
	-Xlinker --no-export-dynamic

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

# The one spelling of the release flags; scripts/test.sh asks for it.
release-flags:
	@echo $(RELEASE_FLAGS)

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

# Fault injection against a 3-server ensemble and 3 replicas of the release
# binary (needs root: tmpfs mounts); a table, chaos/results/*.json, and a last
# line `chaos: N passed, M failed`. `make chaos ROUNDS=1` is the short pass.
# Then the partition suite (network namespaces, docs/partition.md; about 5 min
# per round) and the clock-rate test (docs/clock-rate.md; about 10 min).
PARTITION_ROUNDS ?= 1
chaos: release
	@status=0; \
	ROUNDS=$(ROUNDS) BINARY=.build/release/election PYTHONPATH=scripts python3 -m chaos || status=1; \
	ROUNDS=$(PARTITION_ROUNDS) BINARY=.build/release/election PYTHONPATH=scripts python3 -m partition || status=1; \
	ELECTION_BINARY=.build/release/election python3 scripts/clockrate/test_clockrate.py || status=1; \
	exit $$status

# The protocol's model, checked exhaustively with spin (docs/model.md): the base
# must verify, and each variant without one of the rules must fail.
model: deps
	@bash scripts/model/check.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests

# Every static check, one line each: swift-format, hadolint, docker-compose
# config, the runtime image's library closure (needs the release binary),
# kustomize + kubernetes-validate, systemd-analyze verify/security, shellcheck.
# Installs its tools on first use (apt-get, venvs under .venv-lint/).
lint: release
	@BINARY=.build/release/election bash scripts/lint.sh

# The release binary, the systemd unit (ExecStart= follows PREFIX) and
# /etc/default/election when absent; `systemd-analyze verify` on the result.
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
install: release
	@BINARY=.build/release/election PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" UNITDIR="$(UNITDIR)" \
		bash scripts/install.sh

# libFuzzer over every parser of outside input, FUZZ_SECONDS each (default 60);
# a crash input lands in Tests/fuzz/<target>/ (replayed by the unit tests).
FUZZ_SECONDS ?= 60
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

# Each patch under Tests/mutants/ removes one safety rule; the tests it names
# must fail for every one. Builds a copy under .build-mutants/. About 15 minutes.
mutants: deps
	@MUTANTS="$(MUTANTS)" bash scripts/mutants.sh

clean:
	rm -rf .build .build-mutants .build-fuzz

# Failover and footprint against a real ZooKeeper with the release binary: a
# markdown table on stdout, JSON under bench/results/. About 7 minutes.
bench: release
	ROUNDS=$(ROUNDS) BINARY=.build/release/election python3 scripts/bench.py
