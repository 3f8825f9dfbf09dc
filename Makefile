# capim -- see README.md.
#   make verify   co-simulate the default design, ResNet-20 on 32 sub-arrays of 1024x256, 8- and 16-bit
#   make test     the test suite (what CI runs)
#   make lint     Verilator -Wall, Yosys and Icarus on the generated RTL
#   make rtl      generate the default design into rtl-out/
#   make bench    gen time, cost model per width, Verilator build and simulation speed
#   make fuzz     fuzz the configuration, model and NPY readers (CAPIM_FUZZ_SECS per target, default 60)

CARGO ?= cargo
CAPIM := target/release/capim
TOOLS := verilator yosys iverilog ccache
export OBJCACHE ?= $(shell command -v ccache >/dev/null 2>&1 && echo ccache)

.PHONY: all verify test lint rtl tools build check bench fuzz clean

all: verify

# Installs the simulation and synthesis tools when missing (as root with
# apt-get), otherwise names the exact install command and stops.
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing tools:$$missing -- install them with: sudo apt-get install -y$$missing" >&2; exit 2; \
	  fi; \
	fi

build:
	$(CARGO) build --release

verify: tools build
	$(CAPIM) verify --out rtl-out
	$(CAPIM) verify --precision 16 --out rtl-out-16

rtl: build
	$(CAPIM) gen --out rtl-out

lint: tools rtl
	$(CAPIM) lint rtl-out

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: tools check
	$(CARGO) test

# Figures: gen time, cost model, Verilator build, verification wall time, cycles/s.
bench: tools
	$(CARGO) bench --bench capim

# Fresh seeds for CAPIM_FUZZ_SECS seconds per reader; prints executions per
# second; a failing input is written to target/fuzz-failures/.
fuzz:
	CAPIM_FUZZ_SECS=$${CAPIM_FUZZ_SECS:-60} $(CARGO) test --release --test fuzz fuzz_for_a_while -- --ignored --nocapture

clean:
	rm -rf rtl-out rtl-out-16
	$(CARGO) clean
