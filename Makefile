# kefu: one non-recursive Makefile. `make run` and `make test` are the two commands a new
# machine needs; both install missing Debian packages first (.ci/deps).
.DEFAULT_GOAL := all
.SUFFIXES:

CC      ?= cc
PKGS    := libwebsockets libpcre2-8 sqlite3 jansson libutf8proc opencc
CFLAGS_PKG = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS_PKG   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lstemmer -llinear -lcrypt -lpthread -lm
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wundef -Wvla -fno-common
STD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT     ?= -g -O2
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=

B       ?= build
SRC     := $(sort $(wildcard src/*.c))
LIB_SRC := $(filter-out src/main.c,$(SRC))
LIB_OBJ := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

ALL_CFLAGS = $(STD) $(WARN) $(OPT) -Iinclude $(CFLAGS_PKG) -MMD -MP $(EXTRA_CFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps run test unit check-kb asan bench soak clean lint format install fuzz \
        fuzz-smoke fuzz-build fuzz-bins

all: $(B)/kefu

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/libkefu.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/kefu: $(B)/obj/main.o $(B)/libkefu.a
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LIBS_PKG) $(EXTRA_LDFLAGS)

$(B)/tests/%: $(B)/obj/tests/%.o $(B)/libkefu.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LIBS_PKG) -lcmocka $(EXTRA_LDFLAGS)

deps:
	@.ci/deps

unit: $(UNIT_BIN)

# Every suite prints its own runner's summary; tests/run ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all unit bench/loadgen
	@KEFU_BUILD=$(B) tests/run

run: deps
	@$(MAKE) --no-print-directory all
	@$(B)/kefu agent demo --db kefu.db
	@$(B)/kefu serve --kb kb --intents intents --web web --db kefu.db --set cache_dir=$(B) $(RUN_ARGS)

asan:
	@$(MAKE) --no-print-directory B=build/asan OPT="-g -O1" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  all unit bench/loadgen
	@# a small quarantine: ASan keeps freed memory aside (256 MB by default), which the fault
	@# tests would read as growth of the server's RSS
	@ASAN_OPTIONS=quarantine_size_mb=16 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  KEFU_BUILD=build/asan KEFU_TIMEOUT_MULT=4 tests/run

# libFuzzer targets (tests/fuzz/fuzz_<target>.c): the library is rebuilt by clang into
# build/fuzz/ with coverage instrumentation and ASan/UBSan, each target is linked against it,
# and tests/fuzz/run runs every target for FUZZ_TIME seconds on a copy of its seed corpus
# (build/fuzz/corpus-<target>; crashes go to build/fuzz/artifacts/). fuzz-smoke is the short
# run that `make test` includes; it starts from a fresh copy of the seeds every time.
FUZZ_TIME ?= 60
FUZZ_B    := build/fuzz
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_B)/%)
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

fuzz-build:
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang OPT="-g -O1" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(FUZZ_BIN)
	@:

# Only reached through fuzz-build (B=build/fuzz, CC=clang). The fixture path is absolute so
# that a target can be run by hand from any directory.
$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(B)/libkefu.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes \
	  -DKF_FUZZ_FIXTURES='"$(CURDIR)/tests/fixtures"' -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(B)/libkefu.a $(LIBS_PKG) $(EXTRA_LDFLAGS)

fuzz: fuzz-build
	@FUZZ_B=$(FUZZ_B) FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run

fuzz-smoke: fuzz-build
	@FUZZ_B=$(FUZZ_B) FUZZ_TIME=3 FUZZ_SMOKE=1 tests/fuzz/run

bench:
	@.ci/deps bench
	@$(MAKE) --no-print-directory all bench/loadgen
	@bench/run

# Installs what a deployment needs; honours PREFIX and DESTDIR (packagers).
PREFIX ?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/kefu $(DESTDIR)$(SYSCONFDIR)/kefu
	install -m 755 $(B)/kefu $(DESTDIR)$(PREFIX)/bin/kefu
	cp -R web kb intents $(DESTDIR)$(PREFIX)/share/kefu/
	install -m 644 kefu.conf.example $(DESTDIR)$(SYSCONFDIR)/kefu/kefu.conf.example
	install -m 644 docs/kefu.service $(DESTDIR)$(PREFIX)/share/kefu/kefu.service

# The load generator (bench/server.sh): lws's client API, nothing of kefu's.
bench/loadgen: bench/loadgen.c
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(STD) -D_GNU_SOURCE $(WARN) -O2 -g $(shell pkg-config --cflags libwebsockets libuv) \
	  -o $@ $< $(shell pkg-config --libs libwebsockets libuv) -lev

# ASan build under a mixed load for SOAK_TIME seconds (600): leaks and RSS over time.
soak:
	@$(MAKE) --no-print-directory B=build/asan OPT="-g -O1" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all
	@$(MAKE) --no-print-directory bench/loadgen
	@KEFU_BUILD=build/asan bench/soak

format:
	clang-format -i src/*.c include/kefu/*.h tests/unit/*.c tests/fuzz/*.c

lint:
	@tests/lint

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(B)/obj/main.d $(UNIT_SRC:tests/unit/%.c=$(B)/obj/tests/%.d) \
         $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%.d)
