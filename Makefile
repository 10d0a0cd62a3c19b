# Thin wrapper over meson. `make demo` and `make test` install what is missing
# first (as root), then build. See README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan
# make install: where (PREFIX), the configs' folder (SYSCONFDIR: /etc, so
# /etc/portico whatever the prefix), and a staging root (DESTDIR).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30

.PHONY: all deps build demo demo-fleet test test-asan install deb fuzz clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dsanitize=true -Db_lundef=false

test-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 3

# Reconfigures $(BUILD) for PREFIX and SYSCONFDIR first (a build folder made
# before sysconfdir defaulted to /etc would say /usr/local/etc otherwise).
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX) -Dsysconfdir=$(SYSCONFDIR)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir "$(abspath $(DESTDIR))")

# $(BUILD)/portico_VERSION_ARCH.deb, from a build of its own (prefix /usr).
deb: deps
	@scripts/make-deb.sh $(BUILD)

# libFuzzer targets (clang; docs/fuzzing.md): FUZZ_SECONDS per target.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

demo-fleet: build
	@scripts/demo-fleet.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
