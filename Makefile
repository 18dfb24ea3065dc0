# Thin wrapper over meson/ninja. `make check` is the one command that sets up, builds and tests.
BUILD ?= build
SAN_BUILD ?= build-sanitizers

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

clean:
	[ ! -d $(BUILD) ] || ninja -C $(BUILD) clean

distbench: deps
	scripts/bench.sh

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-release
