# Tollgate build. `make` builds both binaries; see README.md for run/test/bench.
# Sources are picked up by directory (one concept per file), so adding a file needs no Makefile edit:
#   common/*.c              -> build/libtollgate-common.a (shared by every binary)
#   dataplane/src/<layer>/**/*.c  -> build/tollgate-dataplane   (compiled with -Idataplane/src only)
#   controller/src/<layer>/**/*.c -> build/tollgate-controller  (compiled with -Icontroller/src only)
# Each binary's headers are included by their path under its src/ ("loop/worker.h"), so no object needs the
# other binary's include path and the include line names the layer (docs/architecture.md, scripts/layers.py).
#   examples/demo-backend/*.c -> build/tollgate-demo-backend
#   bench/*.c               -> build/tollgate-bench
#   tests/unit/test_common_<x>.c -> build/tests/test_common_<x> (linked with common only)
#   tests/unit/test_dp_<x>.c     -> linked with common + the data plane's objects except main.o
#   tests/unit/test_ctl_<x>.c    -> linked with common + the controller's objects except main.o
#   tests/fuzz/fuzz_<x>.c   -> build/fuzz/fuzz_<x> (clang libFuzzer, `make fuzz`), linked with common/ only;
#                              fuzz_dp_<x>.c also with the data plane's sources, fuzz_ctl_<x>.c with the controller's

CC ?= cc
BUILD ?= build
SAN ?=
OPT ?= -O2 -g
# -Wno-format-truncation (GCC only; clang builds the fuzzers without it): snprintf into bounded buffers truncates
# on purpose (hostile input is bounded, not trusted), and GCC reports it differently at each -O level, which
# would make the ASan build fail alone.
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -pthread -Icommon
CFLAGS := $(CFLAGS_BASE) -Wno-format-truncation $(OPT) $(SAN) $(EXTRA_CFLAGS)
PKGS := libev openssl jansson yaml-0.1 libcurl hiredis
LDLIBS := -lev -lssl -lcrypto -ljansson -lyaml -lcurl -lhiredis -lm -pthread
LDFLAGS := $(SAN) $(EXTRA_LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
DP_SRC := $(shell find dataplane/src -name '*.c' | sort)
# the web console's files (console/) as a C table linked into the data plane (process/console.c serves it)
CONSOLE_FILES := $(shell find console -type f ! -name '.*' 2>/dev/null | sort)
DP_GEN_SRC := $(BUILD)/gen/console_assets.c $(BUILD)/gen/ws_relay_bpf.c
CLI_SRC := $(shell find cli/src -name '*.c' 2>/dev/null | sort)
CTL_SRC := $(shell find controller/src -name '*.c' | sort)
DEMO_SRC := $(wildcard examples/demo-backend/*.c)
BENCH_SRC := $(wildcard bench/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
DP_OBJ := $(call obj,$(DP_SRC)) $(call obj,$(DP_GEN_SRC))
CLI_OBJ := $(call obj,$(CLI_SRC))
CTL_OBJ := $(call obj,$(CTL_SRC))
DP_LIB_OBJ := $(filter-out %/process/main.o,$(DP_OBJ))
CTL_LIB_OBJ := $(filter-out %/process/main.o,$(CTL_OBJ))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps run test test-ktls bench-ktls unit integration asan bench bench-instructions fuzz fuzz-short clean lint format cluster cluster-down images soak valgrind
all: $(BUILD)/tollgate-dataplane $(BUILD)/tollgate-controller $(BUILD)/tollgatectl $(if $(DEMO_SRC),$(BUILD)/tollgate-demo-backend) $(if $(BENCH_SRC),$(BUILD)/tollgate-bench)

deps:
	@./scripts/deps.sh

# Which binary's include root an object gets: its own tree, or for tests/fuzzers the one their name says.
DP_INC := -Idataplane/src
CTL_INC := -Icontroller/src
$(BUILD)/obj/dataplane/%.o $(BUILD)/obj/tests/unit/test_dp_%.o: INC := $(DP_INC)
$(BUILD)/obj/controller/%.o $(BUILD)/obj/tests/unit/test_ctl_%.o: INC := $(CTL_INC)
$(BUILD)/obj/$(BUILD)/gen/%.o: INC := $(DP_INC)
$(BUILD)/obj/cli/%.o: INC := -Icli/src

$(BUILD)/gen/console_assets.c: $(CONSOLE_FILES) scripts/embed_console.py scripts/embed_blob.py
	python3 scripts/embed_console.py $@ console

# The kernel relay's BPF programs (issue 15): compiled for the BPF target, embedded into the data plane as a C array.
BPF_CLANG ?= clang
BPF_ARCH_INC := -I/usr/include/$(shell $(CC) -dumpmachine)
DP_LDLIBS := -lbpf
$(BUILD)/bpf/ws_relay.bpf.o: dataplane/bpf/ws_relay.bpf.c dataplane/src/proxy/ws_relay_abi.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -O2 -g -target bpf -mcpu=v3 $(BPF_ARCH_INC) -Idataplane/src/proxy -Wall -Werror -c $< -o $@
$(BUILD)/gen/ws_relay_bpf.c: $(BUILD)/bpf/ws_relay.bpf.o scripts/embed_blob.py
	python3 scripts/embed_blob.py $@ $< tg_ws_relay_bpf_obj

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(BUILD)/libtollgate-common.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/tollgate-dataplane: $(DP_OBJ) $(BUILD)/libtollgate-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(DP_LDLIBS) $(LDLIBS)

$(BUILD)/tollgatectl: $(CLI_OBJ) $(BUILD)/libtollgate-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tollgate-controller: $(CTL_OBJ) $(BUILD)/libtollgate-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tollgate-demo-backend: $(call obj,$(DEMO_SRC)) $(BUILD)/libtollgate-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tollgate-bench: $(call obj,$(BENCH_SRC)) $(BUILD)/libtollgate-common.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_common_%: $(BUILD)/obj/tests/unit/test_common_%.o $(BUILD)/libtollgate-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_dp_%: $(BUILD)/obj/tests/unit/test_dp_%.o $(DP_LIB_OBJ) $(BUILD)/libtollgate-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DP_LDLIBS) $(LDLIBS)

$(BUILD)/tests/test_ctl_%: $(BUILD)/obj/tests/unit/test_ctl_%.o $(CTL_LIB_OBJ) $(BUILD)/libtollgate-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BIN)
	@./tests/run_unit.sh $(UNIT_BIN)

# The whole suite: deps, build, unit tests, integration tests against the real binaries and peers.
test: deps all
	@./tests/run_all.sh

# Kernel TLS (tests/integration/test_ktls.py) inside a VM booted from Debian's kernel package, whose `tls` module
# this machine's kernel may lack (tests/vm/run_in_vm.sh; ~1-2 min under TCG, exit 77 = skipped with the reason).
# `make bench-ktls`: bench/tls.sh inside the same VM, with and without the module (docs/tls.md, kTLS).
test-ktls: all
	@./scripts/deps.sh --vm
	@rc=0; TOLLGATE_BUILD=$(BUILD) ./tests/vm/run_in_vm.sh -- python3 -m pytest -p no:cacheprovider -rfEs $(PYTEST_ARGS) tests/integration/test_ktls.py || rc=$$?; \
	  if [ $$rc = 77 ]; then echo "test-ktls: skipped (reason above)"; else exit $$rc; fi
bench-ktls: all
	@./scripts/deps.sh --vm
	@./bench/tls_ktls.sh

# The integration tests alone (real binaries and peers on loopback); PYTEST_ARGS narrows them (-k ...).
integration: deps all
	@python3 -m pytest -p no:cacheprovider -rfE $(PYTEST_ARGS) tests/integration

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build directory.
ASAN_MAKE_ARGS := BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
asan: deps
	$(MAKE) $(ASAN_MAKE_ARGS) all $(addprefix build-asan/tests/,$(notdir $(UNIT_BIN)))
	TOLLGATE_BUILD=build-asan TOLLGATE_MAKE_ARGS='$(ASAN_MAKE_ARGS)' ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./tests/run_all.sh

# The continuity soak (tests/soak/soak.py, docs/testing.md): 1,000 WebSocket sessions streaming numbered messages
# while the controller (dir mode) pushes 1,000 changes of every kind; prints drops, losses, reorders, duplicates
# (all must be 0) and the data plane's RSS. About 10 minutes, bounded.
soak: deps all
	python3 tests/soak/soak.py --sessions 1000 --changes 1000 --change-pause 0.3

# The integration tests with the data plane under valgrind memcheck (0 errors, 0 definite leaks: it exits 99
# otherwise and the test fails). VALGRIND_TESTS is the subset documented in docs/testing.md.
VALGRIND_TESTS ?= tests/integration/test_http_proxy.py tests/integration/test_ws_echo.py tests/integration/test_ws_lifecycle.py tests/integration/test_control_socket.py tests/integration/test_limits.py tests/integration/test_faults.py tests/integration/test_policy_auth.py tests/integration/test_policy_traffic.py tests/integration/test_smuggling.py
valgrind: deps all
	TOLLGATE_VALGRIND=1 python3 -m pytest -p no:cacheprovider -q -rfE $(PYTEST_ARGS) $(VALGRIND_TESTS)

run: deps all
	@./scripts/run-demo.sh

bench: deps all
	@./bench/run.sh

# CPU cost in instructions (callgrind), comparable between builds on a busy machine: BUILDS="build-before build"
bench-instructions: deps all
	@./bench/instructions.sh $(or $(BUILDS),$(BUILD))

FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BIN)
	@./tests/fuzz/run.sh $(FUZZ_BIN)

# A short run of every target (FUZZ_SECONDS each, default 10), as `make test` does when clang is installed.
fuzz-short: $(FUZZ_BIN)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-10} FUZZ_WORK=$(BUILD)/fuzz/short ./tests/fuzz/run.sh $(FUZZ_BIN)

FUZZ_CC = clang $(CFLAGS_BASE) -Wno-unused-function -O1 -g -fsanitize=fuzzer,address,undefined -DTG_FUZZING
$(BUILD)/fuzz/fuzz_dp_%: tests/fuzz/fuzz_dp_%.c $(COMMON_SRC) $(DP_SRC) $(DP_GEN_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(DP_INC) -o $@ $< $(COMMON_SRC) $(filter-out %/process/main.c,$(DP_SRC)) $(DP_GEN_SRC) $(DP_LDLIBS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_ctl_%: tests/fuzz/fuzz_ctl_%.c $(COMMON_SRC) $(CTL_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CTL_INC) -o $@ $< $(COMMON_SRC) $(filter-out %/process/main.c,$(CTL_SRC)) $(LDLIBS)

# (a target over one pure data-plane file, e.g. fuzz_jwt, includes that .c by its path under dataplane/src)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(DP_INC) -o $@ $< $(COMMON_SRC) $(LDLIBS)

lint:
	@./scripts/lint.sh

format:
	clang-format -i $(COMMON_SRC) $(wildcard common/*.h) $(DP_SRC) $(shell find dataplane/src controller/src -name '*.h') $(CTL_SRC)

cluster:
	@./tests/k8s/cluster.sh up

cluster-down:
	@./tests/k8s/cluster.sh down

images:
	@./scripts/images.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
