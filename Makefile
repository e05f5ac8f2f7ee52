# retort - build
#
#   make                 library (static + shared), CLI, tests, benchmarks
#   make test            build and run the test suite (from the repo root)
#   make SAN=1 BUILD=build/san test   the same under ASan + UBSan
#   make CC=clang        build with clang
#   make install PREFIX=/usr/local
#   make fuzz            libFuzzer targets (clang)
#
# Sources are found by wildcard: a new file in src/<layer>/, cli/, tests/test_*.c,
# bench/*.c or fuzz/fuzz_*.c needs no change here.

CC      ?= gcc
BUILD   ?= build
PREFIX  ?= /usr/local
VERSION := 0.1.0

OPENBLAS_PCDIR := $(firstword $(wildcard /usr/lib/*/openblas-openmp/pkgconfig))
OPENBLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PCDIR) pkg-config --cflags openblas)
OPENBLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PCDIR) pkg-config --variable=libdir openblas)
PKGS := libcjson sndfile samplerate kissfft-float

DEP_CFLAGS := $(OPENBLAS_CFLAGS) $(shell pkg-config --cflags $(PKGS))
DEP_LIBS   := -L$(OPENBLAS_LIBDIR) -Wl,-rpath,$(OPENBLAS_LIBDIR) -lopenblas \
              $(shell pkg-config --libs $(PKGS)) -lz -lm

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
OPT     ?= -O2
CFLAGS  ?=
ALL_CFLAGS := -std=c11 $(OPT) -g $(WARN) -fPIC -fopenmp -fno-math-errno -D_GNU_SOURCE \
              -DRT_VERSION='"$(VERSION)"' -Isrc -Iinclude $(DEP_CFLAGS) $(CFLAGS)
LDFLAGS ?=
ALL_LDFLAGS := -fopenmp $(LDFLAGS)

ifeq ($(SAN),1)
ALL_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC   := $(sort $(filter-out src/dist/%,$(wildcard src/*/*.c)))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_UTIL := $(sort $(wildcard tests/util/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
EX_SRC    := $(sort $(wildcard examples/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UTIL_OBJ  := $(TEST_UTIL:%.c=$(BUILD)/obj/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

STATIC := $(BUILD)/libretort.a
SHARED := $(BUILD)/libretort.so
CLI    := $(BUILD)/retort

.PHONY: all lib cli tests bench examples test main install fuzz clean
.SECONDARY:
all: lib cli tests bench examples
lib: $(STATIC) $(SHARED)
cli: $(CLI) retort
tests: $(TEST_BIN)
bench: $(BENCH_BIN)
examples: $(EX_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -Itests/util -MMD -MP -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@echo "  LD      $@"
	@$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(DEP_LIBS)

$(CLI): $(CLI_OBJ) $(STATIC)
	@echo "  LD      $@"
	@$(CC) -o $@ $(CLI_OBJ) $(STATIC) $(ALL_LDFLAGS) $(DEP_LIBS)

# ./retort at the repo root is a link to the CLI of the default build.
retort: $(CLI)
	@if [ "$(BUILD)" = build ]; then ln -sf build/retort retort; fi

$(BUILD)/tests/%: tests/%.c $(UTIL_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  TEST    $<"
	@$(CC) $(ALL_CFLAGS) -Itests/util -o $@ $< $(UTIL_OBJ) $(STATIC) $(ALL_LDFLAGS) $(DEP_LIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $<"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(DEP_LIBS)

$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  EXAMPLE $<"
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(DEP_LIBS)

# The main job (README): the full teacher -> student -> quantize -> bench ->
# report -> verify run (scripts/main_job.sh).
main: all
	@sh scripts/main_job.sh $(BUILD)

# Under SAN=1 the sanitizer settings CI uses are the defaults (the caller's own win):
# a test asks for an impossible allocation on purpose, so ASan must return NULL.
ifeq ($(SAN),1)
SAN_ENV := ASAN_OPTIONS="$${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:allocator_may_return_null=1}" \
           UBSAN_OPTIONS="$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
           LSAN_OPTIONS="$${LSAN_OPTIONS:-suppressions=$(CURDIR)/.ci/lsan.supp:print_suppressions=0}"
endif

test: $(TEST_BIN) $(CLI)
	@$(SAN_ENV) RETORT_BIN=$(CLI) sh tests/run.sh $(TEST_BIN)

FUZZ_CC ?= clang
# The library is compiled once with the sanitizers (objects instrumented for
# libFuzzer without its main); each target links it.
FUZZ_CFLAGS := -std=c11 -O1 -g -fsanitize=address,undefined -Wno-pass-failed -fopenmp -D_GNU_SOURCE \
               -DRT_VERSION='"$(VERSION)"' -Isrc -Iinclude $(DEP_CFLAGS)
FUZZ_LIB := $(BUILD)/fuzzlib/libretort-fuzz.a
fuzz: $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
$(BUILD)/fuzzlib/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_LIB): $(LIB_SRC:%.c=$(BUILD)/fuzzlib/%.o)
	@rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(DEP_LIBS)

install: lib $(CLI)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/include/retort
	install -m 644 include/retort.h $(DESTDIR)$(PREFIX)/include/
	for h in $$(cd src && ls */*.h); do \
	    install -D -m 644 src/$$h $(DESTDIR)$(PREFIX)/include/retort/$$h; done
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@OPENBLAS_LIBDIR@|$(OPENBLAS_LIBDIR)|g' retort.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/retort.pc

clean:
	rm -rf build retort

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UTIL_OBJ:.o=.d) $(LIB_SRC:%.c=$(BUILD)/fuzzlib/%.d)
