# gregor: build, test, benchmark and fuzz. `make run` starts a broker; `make test`
# is what CI runs.
GO        ?= go
FUZZTIME  ?= 30s
# ARGS: more flags for `make run`'s broker, e.g. another port when 9092 is
# taken: make run ARGS='--set listeners=PLAINTEXT://127.0.0.1:9093'
ARGS      ?=
PKGS      := ./...

.PHONY: all build run test testdeps fmtcheck vet unit clientsuite rdkafkasuite bench fuzz clean sim

all: build

build:
	$(GO) build -buildvcs=auto -o bin/gregor ./cmd/gregor

run: build
	./bin/gregor serve $(ARGS)

# test: formatting, vet, and every test (with the seed corpora of the fuzz
# targets) under the race detector, but the simulator's and the CLI's sim
# commands (TestSim*): a simulation runs on one goroutine, and without the
# detector it plays its full 200 seeds and the CLI's plant swarms in minutes.
# The allocation tests (names with Alloc) run once more without the detector,
# which allocates and drops pooled items, so they skip or are not built under it.
# testdeps first installs the clients the end-to-end tests drive (kcat,
# python3-kafka, python3-confluent-kafka, node and npm) and the browser the simulator's
# page is checked in (chromium) when they are missing. clientsuite last:
# franz-go's own integration tests against a three-node cluster,
# kafka-go's against one node, and gregor's checks of KafkaJS.
test: testdeps fmtcheck vet unit clientsuite

testdeps:
	@.ci/install-test-deps

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m -skip '^TestSim' $$($(GO) list $(PKGS) | grep -v '/sim$$')
	$(GO) test -count=1 -timeout 5m -run 'Alloc' ./actors/ ./netio/ ./logstore/... ./groups/
	$(GO) test -count=1 -timeout 25m ./sim/...
	$(GO) test -count=1 -timeout 25m -run '^TestSim' ./cmd/gregor

# clientsuite: franz-go's kgo integration tests (group and transactional
# ETL with connection chaos, and the produce/consume tests of issues met with
# real brokers) against a three-node gregor cluster, in about two minutes;
# then kafka-go's own tests against one node on a free local port, in about a
# minute and a half; scripts/clientsuite and scripts/kafkagosuite say which
# tests and why; then gregor's own checks of KafkaJS (node, npm kafkajs)
# against one node and a three-node cluster, in about a minute
# (scripts/kafkajssuite says what they check).
clientsuite: build
	GO=$(GO) scripts/clientsuite bin/gregor
	GO=$(GO) scripts/kafkagosuite bin/gregor
	scripts/kafkajssuite bin/gregor

# rdkafkasuite: librdkafka's own test suite (the tests that need a broker,
# in quick mode) against a three-node cluster, built from Debian's source
# package of the installed librdkafka; about 4 minutes.
# Not in `make test`: some of its tests time the client and fail on a loaded
# machine; scripts/rdkafkasuite says which tests it leaves out and why.
rdkafkasuite: build
	scripts/rdkafkasuite bin/gregor

# bench: every benchmark beside its reference, 3 runs each; cmd/benchreport
# prints the medians and ratios.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -timeout 60m $(PKGS) | tee bench.out
	$(GO) run ./cmd/benchreport < bench.out

# fuzz: each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin bench.out

# sim: a long swarm of the deterministic simulator (SIMSEEDS seeds from
# SIMSTART, each with its own faults and workload, in SIMPARALLEL worker
# processes); failing seeds are listed with the command that replays each.
SIMSEEDS    ?= 5000
SIMSTART    ?= 1
SIMPARALLEL ?= 2
SIMDURATION ?= 60s

sim: build
	./bin/gregor sim swarm --seeds $(SIMSEEDS) --start $(SIMSTART) --parallel $(SIMPARALLEL) --duration $(SIMDURATION)
