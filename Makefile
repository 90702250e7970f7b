# VecPuff: `make run` serves on :3000 with the embedded local store; `make test` runs every test.
JOBS ?= $(shell nproc)
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
DATA_DIR ?= ./data

.PHONY: all deps bench-deps build build-asan run test test-release test-asan test-fuzz stress bench bench-ann bench-scale format clean

all: build

deps:
	@./scripts/install_deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DVECPUFF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/src/server/vecpuff --config config.toml

test: test-release test-asan test-fuzz

# Every test run gets its own S3 test server (moto) on loopback: scripts/with_moto.sh.
WITH_MOTO = $(CURDIR)/scripts/with_moto.sh

test-release: build
	cd $(BUILD_DIR) && $(WITH_MOTO) ctest --output-on-failure -j $(JOBS) --timeout 600

test-asan: build-asan
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(WITH_MOTO) ctest --output-on-failure -j $(JOBS) --timeout 900

# libFuzzer targets (fuzz/, clang with ASan/UBSan): FUZZ_SECONDS per target over the
# committed seed corpora; any finding fails the run.
FUZZ_SECONDS ?= 20
test-fuzz: deps
	./scripts/run_fuzz.sh $(FUZZ_SECONDS)

# The long versions of the reliability suites (docs/reliability.md): 200 crash cycles per
# mode, 10M fuzz executions per target, repeated multi-process runs, a 30-minute soak. Hours.
# Fuzzing stops per target at STRESS_FUZZ_RUNS executions (the goal: 10M each), or after
# STRESS_FUZZ_SECONDS if that comes first.
STRESS_FUZZ_RUNS ?= 10000000
STRESS_FUZZ_SECONDS ?= 21600
STRESS_SOAK_SECONDS ?= 1800
stress: build
	./$(BUILD_DIR)/tests/integration/vecpuff_crash_harness --mode server --backend local --cycles 200 --writers 4
	$(WITH_MOTO) ./$(BUILD_DIR)/tests/integration/vecpuff_crash_harness --mode server --backend s3 --cycles 200 --writers 4
	./$(BUILD_DIR)/tests/integration/vecpuff_crash_harness --mode compactor --backend local --cycles 100 --writers 4
	./$(BUILD_DIR)/tests/integration/vecpuff_crash_harness --mode cache --backend local --cycles 100 --writers 4
	cd $(BUILD_DIR) && $(WITH_MOTO) ./tests/integration/vecpuff_integration_tests --gtest_filter='*MultiProcess*' --gtest_repeat=10
	./$(BUILD_DIR)/bench/soak_bench --duration $(STRESS_SOAK_SECONDS) --interval 60 --write-rps 10 --query-rps 20 \
	  --max-rss-growth-pct 5
	FUZZ_ARGS=-runs=$(STRESS_FUZZ_RUNS) ./scripts/run_fuzz.sh $(STRESS_FUZZ_SECONDS)

# The ANN peers and the data set (hnswlib, faiss, SPTAG, Fashion-MNIST); ann_bench is only
# configured once they are installed, so they are installed before cmake runs again.
bench-deps: deps
	@./scripts/install_bench_deps.sh

# Figures for the write path and the exact scan on the local store, then the S3 client
# and the write path against the S3 test server on loopback, then recall/QPS of VecPuff
# against its peers, then filtered search against hnswlib (see bench/ and docs/benchmarks.md). ANN_BENCH_ARGS passes flags to
# ann_bench, e.g. ANN_BENCH_ARGS="--quick" or "--systems hnswlib,vecpuff".
ANN_BENCH_ARGS ?=

bench: bench-deps
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/bench/write_path_bench
	$(WITH_MOTO) ./$(BUILD_DIR)/bench/s3_bench
	$(WITH_MOTO) ./$(BUILD_DIR)/bench/write_path_bench --backend s3 --rows 20000
	./$(BUILD_DIR)/bench/ann_bench $(ANN_BENCH_ARGS)
	./$(BUILD_DIR)/bench/filter_bench

# The ANN comparison alone.
bench-ann: bench-deps
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/bench/ann_bench $(ANN_BENCH_ARGS)

# 10M synthetic clustered 128-d vectors (generated on the fly, never stored except as the
# store's own objects) ingested, indexed and queried in process: ingest rate, time to fully
# indexed, write amplification, recall against the exact answer on a sample, QPS, memory.
# SCALE_BENCH_ARGS passes flags, e.g. "--rows 1000000". Needs about 20 GB of disk under /tmp.
SCALE_BENCH_ARGS ?=
bench-scale: build
	./$(BUILD_DIR)/bench/scale_bench $(SCALE_BENCH_ARGS)

format:
	@find src tests bench tools fuzz -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
