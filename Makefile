# keyhold -- the project's interface. Every target does its own set-up.
#
#   make build     configure (CMake + Ninja) and build into build/
#   make test      C++ tests (ctest) + the C smoke program + Go tests (-race) + CLI shell test
#   make demo      the main job: a guided run of the engine end to end
#   make bench     C++ (Google Benchmark) and Go (testing.B) benchmarks
#   make lint      clang-format, clang-tidy, cppcheck, gofmt, go vet, staticcheck
#   make sanitize  the C++ suite under ASan+UBSan and under TSan, the Go suite over an ASan library
#   make fuzz      libFuzzer targets (FUZZ_SECONDS each) and the Go fuzz targets (docs/assurance.md)
#   make ct        constant-time checks of keyhold's secret-dependent code under valgrind
#   make abi-check the ABI against abi/libkeyhold.abi (abi-baseline regenerates it)
#   make repro-check  two builds in different directories must be byte-identical
#   make sbom      CycloneDX SBOM of the artifacts into build/sbom.cdx.json
#   make install   install headers, libraries, CMake and pkg-config files
#   make clean

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
GO         ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
JOBS       ?= $(shell nproc)
STATICCHECK_VERSION ?= v0.8.2
# Go's build cache does not hash the C archives cgo links, so a rebuilt
# libkeyhold.a could be linked stale: putting its digest in CGO_CFLAGS makes
# every change of the archive a new cache key.
GO_CGO_ENV  = CGO_CFLAGS="-O2 -g -DKEYHOLD_LIB_SHA256=$$(sha256sum $(CURDIR)/build/lib/libkeyhold.a | cut -c1-16)"

CXX_SOURCES = $(shell git ls-files '*.cc' '*.h' '*.c' 2>/dev/null | grep -v '^go/')

.PHONY: all deps build test test-cpp test-go demo bench bench-cpp bench-go lint format install clean \
        sanitize sanitize-asan sanitize-tsan
.PHONY: fuzz sanitize-go ct abi-check abi-baseline repro-check sbom

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	@scripts/install-deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD_DIR)/build.ninja
	@scripts/install-deps
	cmake --build $(BUILD_DIR) -j $(JOBS)
	@GO=$(GO) BUILD_DIR=$(BUILD_DIR) scripts/build-cli

test: test-cpp test-go test-cli

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The Go suite twice: in-process (cgo, -race), then against a real keyholdd
# on a real socket through the pure-Go client built with CGO_ENABLED=0 (the
# conformance run of the daemon mode, plus its fault and bad-input tests).
test-go: build
	cd go && $(GO_CGO_ENV) $(GO) test -race -count=1 ./...
	@echo "Go suite against keyholdd (pure-Go client, CGO_ENABLED=0)"
	cd go && CGO_ENABLED=0 KEYHOLD_TEST_DAEMON=$(CURDIR)/$(BUILD_DIR)/bin/keyholdd \
	  KEYHOLD_TEST_CLI=$(CURDIR)/$(BUILD_DIR)/bin/keyhold $(GO) test -count=1 . ./internal/remote

# The built keyhold binary driven from the shell (exit codes, files, pipes).
test-cli: build
	tests/cli/cli_test.sh $(BUILD_DIR)/bin/keyhold

demo: build
	@scripts/demo

# bench: the C++ and Go benchmarks back to back in one run, printed as the
# side-by-side tables of docs/performance.md (REPS repetitions, medians).
bench: build
	@GO=$(GO) BUILD_DIR=$(BUILD_DIR) scripts/bench-report --reps $${REPS:-5}
	@echo; echo "## In-process vs keyholdd (scripts/bench-daemon)"
	@GO=$(GO) BUILD_DIR=$(BUILD_DIR) scripts/bench-daemon --reps $${REPS:-5}

bench-cpp: build
	$(BUILD_DIR)/bin/keyhold_bench --benchmark_repetitions=$${REPS:-5} --benchmark_report_aggregates_only=true

bench-go: build
	cd go && $(GO_CGO_ENV) $(GO) test -run '^$$' -bench . -benchmem -count $${REPS:-5} ./...

lint: build
	@scripts/install-deps lint
	@echo "clang-format"; clang-format --dry-run --Werror $(CXX_SOURCES) include/keyhold/keyhold.h
	@echo "cppcheck"; cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppressions-list=.cppcheck-suppressions -I include -I src src examples
	@echo "clang-tidy"; clang-tidy --quiet -p $(BUILD_DIR) $(filter src/%.cc,$(CXX_SOURCES)) 2>/dev/null
	@if [ -f go/go.mod ]; then \
	  echo "gofmt"; test -z "$$(cd go && gofmt -l .)" || { cd go && gofmt -l .; exit 1; }; \
	  echo "go vet"; (cd go && $(GO) vet ./...) || exit 1; \
	  echo "staticcheck $(STATICCHECK_VERSION)"; \
	  GOBIN=$(CURDIR)/$(BUILD_DIR)/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && \
	  cd go && $(CURDIR)/$(BUILD_DIR)/tools/staticcheck ./...; \
	fi

# Sanitizer builds live in their own directories; the suite must be clean.
sanitize: sanitize-asan sanitize-tsan sanitize-go

sanitize-asan:
	@scripts/install-deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYHOLD_SANITIZE=address,undefined \
	  -DKEYHOLD_BUILD_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

sanitize-tsan:
	@scripts/install-deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYHOLD_SANITIZE=thread \
	  -DKEYHOLD_BUILD_BENCH=OFF
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure -j $(JOBS)

# The Go suite (cgo, in-process engine) with -asan over a library built with
# ASan in build-asan-go/ (scripts/sanitize-go says how the link is pointed
# there).
sanitize-go:
	@scripts/sanitize-go

# Assurance stages (docs/assurance.md). Each builds in its own directory.
FUZZ_SECONDS    ?= 30
GO_FUZZ_SECONDS ?= 10
fuzz: build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) GO_FUZZ_SECONDS=$(GO_FUZZ_SECONDS) scripts/fuzz

ct:
	@scripts/ct

abi-check:
	@scripts/abi-check

abi-baseline:
	@scripts/abi-check --baseline

repro-check:
	@scripts/repro-check

sbom: build
	@scripts/sbom $(BUILD_DIR)/sbom.cdx.json

format:
	clang-format -i $(CXX_SOURCES)
	@if [ -f go/go.mod ]; then cd go && gofmt -w .; fi

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz build-asan-go build-ct build-abi build-repro-a build-repro-b
