# Thin wrapper over meson/ninja. `make check` is the one command that sets up, builds and tests.
BUILD ?= build
SAN_BUILD ?= build-sanitizers
# The clang build of the libFuzzer targets (docs/devel/fuzzing.rst); seconds per target for
# `make fuzz` and for the short run in `make check`.
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ_CHECK_TIME ?= 15

.PHONY: all deps check check-sanitizers install demo bench fuzz clean distclean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD)

deps:
	scripts/install-deps.sh

check: deps
	@[ -f $(BUILD)/build.ninja ] || ./configure --builddir=$(BUILD)
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	scripts/fuzz.sh --builddir=$(FUZZ_BUILD) --time=$(FUZZ_CHECK_TIME) --fresh

check-sanitizers: deps
	@[ -f $(SAN_BUILD)/build.ninja ] || ./configure --builddir=$(SAN_BUILD) --enable-sanitizers
	ninja -C $(SAN_BUILD)
	meson test -C $(SAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 3

install: all
	meson install -C $(BUILD)

demo: deps all
	scripts/demo.sh $(BUILD)

bench: deps
	scripts/bench.sh

fuzz: deps
	scripts/fuzz.sh --builddir=$(FUZZ_BUILD) --time=$(FUZZ_TIME)

clean:
	[ ! -d $(BUILD) ] || ninja -C $(BUILD) clean

distclean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) build-release
