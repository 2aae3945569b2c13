# keyhold -- the project's interface. Every target does its own set-up.
#
#   make build     configure (CMake + Ninja) and build into build/
#   make test      C++ tests (ctest) + the C smoke program + Go tests (-race)
#   make demo      the main job: a guided run of the engine end to end
#   make bench     C++ (Google Benchmark) and Go (testing.B) benchmarks
#   make lint      clang-format, clang-tidy, cppcheck, gofmt, go vet
#   make install   install headers, libraries, CMake and pkg-config files
#   make clean

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
GO         ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
JOBS       ?= $(shell nproc)
export GOFLAGS ?= -mod=mod

CXX_SOURCES = $(shell git ls-files '*.cc' '*.h' '*.c' 2>/dev/null | grep -v '^go/')

.PHONY: all deps build test test-cpp test-go demo bench bench-cpp bench-go lint format install clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	@scripts/install-deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD_DIR)/build.ninja
	@scripts/install-deps
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: test-cpp test-go

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-go: build
	@if [ -f go/go.mod ]; then cd go && $(GO) test -race -count=1 ./...; fi

demo: build
	@scripts/demo

bench: bench-cpp bench-go

bench-cpp: build
	@if [ -x $(BUILD_DIR)/bin/keyhold_bench ]; then \
	  $(BUILD_DIR)/bin/keyhold_bench --benchmark_repetitions=$${REPS:-5} --benchmark_report_aggregates_only=true; \
	fi

bench-go: build
	@if [ -f go/go.mod ]; then cd go && $(GO) test -run '^$$' -bench . -benchmem -count $${REPS:-5} ./...; fi

lint: build
	@scripts/install-deps lint
	@echo "clang-format"; clang-format --dry-run --Werror $(CXX_SOURCES) include/keyhold/keyhold.h
	@echo "cppcheck"; cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppressions-list=.cppcheck-suppressions -I include -I src src examples
	@echo "clang-tidy"; clang-tidy --quiet -p $(BUILD_DIR) $(filter src/%.cc,$(CXX_SOURCES)) 2>/dev/null
	@if [ -f go/go.mod ]; then \
	  echo "gofmt"; test -z "$$(cd go && gofmt -l .)" || { cd go && gofmt -l .; exit 1; }; \
	  echo "go vet"; cd go && $(GO) vet ./...; \
	fi

format:
	clang-format -i $(CXX_SOURCES)
	@if [ -f go/go.mod ]; then cd go && gofmt -w .; fi

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
