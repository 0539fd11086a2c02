# Front door. `make demo` and `make test` are the two commands in README.md;
# both install missing Debian packages first (deploy/install-deps.sh).
BUILD      ?= build
BUILD_TSAN ?= build-tsan
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
CTEST_ARGS ?= --output-on-failure --timeout 600

# ccache hits across clones in other folders (CI builds a fresh clone):
# hash paths relative to the checkout, and not the build directory.
export CCACHE_BASEDIR   := $(CURDIR)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE   ?= 5G

.PHONY: all deps build test test-main test-tsan test-asan demo bench format clean

all: build

deps:
	@bash deploy/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The scheduler's tests under ThreadSanitizer and AddressSanitizer, then the
# whole suite; the last thing printed is ctest's summary of the whole suite.
test: deps test-tsan test-asan test-main

test-main: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-tsan: deps
	cmake -S . -B $(BUILD_TSAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSKEIN_ONLY_SCHED=ON -DSKEIN_BUILD_BENCH=OFF -DSKEIN_SANITIZE=thread
	cmake --build $(BUILD_TSAN) -j$(JOBS)
	cd $(BUILD_TSAN) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest $(CTEST_ARGS) -L sched -LE nosan

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSKEIN_ONLY_SCHED=ON -DSKEIN_BUILD_BENCH=OFF -DSKEIN_SANITIZE=address
	cmake --build $(BUILD_ASAN) -j$(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS="detect_leaks=1" \
	  ctest $(CTEST_ARGS) -L sched -LE nosan

demo: build
	@bash examples/demo.sh $(BUILD)

bench: build
	@bash bench/compare.sh $(BUILD)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD_TSAN) $(BUILD_ASAN)
