# Titan failover for Panda's Chatterbox TTS. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIN := $(PYTHON) scripts/pin.py
CACHE := .cache
BUNDLE := $(CACHE)/test-bundle
VOICES := $(CACHE)/test-voices

TORCH_VERSION := $(shell $(PIN) torch)
TORCHAUDIO_VERSION := $(shell $(PIN) torchaudio)
CHATTERBOX_VERSION := $(shell $(PIN) chatterbox_tts)
# A CA bundle to trust inside image builds (this machine reaches PyPI through a TLS proxy).
SHIM_EXTRA_CA ?= $(or $(PIP_CERT),$(wildcard /etc/ssl/certs/ca-certificates.crt))
export SHIM_EXTRA_CA
ROLES_WITH_MOLECULE := $(patsubst roles/%/molecule/default/molecule.yml,%,$(wildcard roles/*/molecule/default/molecule.yml))

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: app/pyproject.toml images/requirements.lock images/requirements-nodeps.lock requirements-dev.txt requirements-controller.txt app/src/chatterbox_shim/pins.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, then chatterbox without its torch==2.6 pin, then the locked rest.
	$(BIN)/pip install -q torch==$(TORCH_VERSION) torchaudio==$(TORCHAUDIO_VERSION)
	$(BIN)/pip install -q --no-deps chatterbox-tts==$(CHATTERBOX_VERSION)
	$(BIN)/pip install -q -r images/requirements.lock -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r images/requirements-nodeps.lock
	$(BIN)/pip install -q --no-deps -e app
	touch $@

.PHONY: venv
venv: $(BIN)/.installed ## Create the Python environment (pinned torch, chatterbox, tools)

CONTROLLER := .venv-controller
$(CONTROLLER)/.installed: requirements-controller.txt
	$(PYTHON) -m venv $(CONTROLLER)
	$(CONTROLLER)/bin/pip install -q -r requirements-controller.txt
	touch $@

.PHONY: controller
controller: $(CONTROLLER)/.installed ## The operator's controller: Ansible only, in .venv-controller (no torch, no molecule)
	@echo "controller ready: export PATH=$(abspath $(CONTROLLER))/bin:\$$PATH"

.PHONY: lint
lint: venv ## ruff, mypy, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check app scripts lab tests roles
	$(BIN)/ruff format --check app scripts lab tests roles
	cd app && ../$(BIN)/mypy
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/yamllint -s .
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-lint

.PHONY: test
test: ## Every test suite (lint included), each one timed; the image scenario runs alongside the shim's tests and the other scenarios
	bash scripts/timed.sh lint test-bundle docker test-app,test-molecule-roles+test-molecule-image test-lab

KERNELS_DIR := app/src/chatterbox_shim/engines/kernels

.PHONY: kernels
kernels: $(KERNELS_DIR)/t3_decode.fatbin ## The T3 decode kernels for a GPU (needs nvcc; the image builds its own)

$(KERNELS_DIR)/t3_decode.fatbin: $(KERNELS_DIR)/t3_decode.cu $(KERNELS_DIR)/build.sh
	sh $(KERNELS_DIR)/build.sh

.PHONY: system-deps
system-deps: ## espeak-ng, sox, python3-venv (as root on Debian/Ubuntu; a no-op when present)
	bash scripts/install-system-deps.sh

.PHONY: docker
docker: ## Make sure a Docker engine answers (installs docker.io as root on Debian/Ubuntu)
	bash scripts/docker-up.sh
	bash scripts/molecule-image.sh

MOLECULE_IMAGE_ROLE := chatterbox_image
define run_molecule
	set -e; for role in $(1); do \
	  echo "== molecule: $$role"; started=$$(date +%s); \
	  (cd roles/$$role && PATH=$(abspath $(BIN)):$$PATH molecule test); \
	  echo "== molecule: $$role passed in $$(($$(date +%s) - started)) s"; \
	done
endef

.PHONY: test-molecule
test-molecule: test-molecule-image test-molecule-roles ## Every role's molecule scenario (docker driver, testinfra)

.PHONY: test-molecule-image
test-molecule-image: system-deps venv docker test-bundle ## The image role's scenario (builds the torch test image: the slow one)
	$(call run_molecule,$(MOLECULE_IMAGE_ROLE))

.PHONY: test-molecule-roles
test-molecule-roles: system-deps venv docker test-bundle ## Every other role's molecule scenario
	$(call run_molecule,$(filter-out $(MOLECULE_IMAGE_ROLE),$(ROLES_WITH_MOLECULE)))

.PHONY: test-lab
test-lab: system-deps venv docker test-bundle ## Failover faults end to end on the local lab
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q -ra --durations=15 tests

.PHONY: demo
demo: system-deps venv docker test-voices ## The whole failover on a local lab: standby, outage, failover, rollback
	bash scripts/demo.sh

.PHONY: demo-clean
demo-clean: ## Remove the local lab
	bash scripts/lab.sh down

.PHONY: test-app
test-app: system-deps venv ## The shim's tests, the real Chatterbox model on the CPU included
	cd app && ../$(BIN)/pytest -q -ra --durations=10

.PHONY: test-fast
test-fast: venv ## The shim's tests without the slow real-model ones
	cd app && ../$(BIN)/pytest -q -m "not slow"

.PHONY: serve
serve: venv ## Run the shim on 127.0.0.1:8773 (lab engine unless SHIM_ENGINE=chatterbox)
	@test -n "$$CHATTERBOX_TOKEN$$CHATTERBOX_TOKEN_FILE" || { echo "set CHATTERBOX_TOKEN (or CHATTERBOX_TOKEN_FILE)"; exit 2; }
	$(BIN)/chatterbox-shim

$(BUNDLE)/weights-manifest.json: | venv
	$(BIN)/make-test-bundle $(BUNDLE)

$(VOICES)/metadata.json: | venv
	$(BIN)/make-test-voices $(VOICES)

.PHONY: test-bundle
test-bundle: $(BUNDLE)/weights-manifest.json $(VOICES)/metadata.json ## Random-weights bundle + espeak voices in .cache/

.PHONY: test-voices
test-voices: $(VOICES)/metadata.json ## espeak-ng voices in .cache/ (the lab needs only these)

.PHONY: serve-bundle
serve-bundle: test-bundle ## Run the real engine on the random-weights test bundle (not a voice)
	SHIM_ENGINE=chatterbox SHIM_WEIGHTS_DIR=$(BUNDLE) SHIM_WEIGHTS_MANIFEST=$(BUNDLE)/weights-manifest.json \
	  SHIM_VOICES_DIR=$(VOICES) $(MAKE) serve

.PHONY: bench
bench: test-bundle ## In-process vs HTTP latency/RTF of the real engine on the test bundle
	$(BIN)/shim-bench --weights $(BUNDLE) --manifest $(BUNDLE)/weights-manifest.json --voices $(VOICES) \
	  $(BENCH_ARGS) --json out/bench-$$(date +%Y%m%d-%H%M%S).json

.PHONY: identity
identity: venv ## Speaker similarity of A=DIR against B=DIR, JSON to OUT=FILE (and OUT.html to listen)
	@test -n "$(A)" -a -n "$(B)" -a -n "$(OUT)" || { echo "usage: make identity A=DIR B=DIR OUT=FILE" >&2; exit 2; }
	$(BIN)/chatterbox-parity identity $(A) $(B) --json $(OUT) --html $(basename $(OUT)).html

.PHONY: bench-decode
bench-decode: test-bundle ## Reference vs fast T3 decode in one run (a GPU machine; DECODE_ARGS=--fixed-tokens ...)
	$(BIN)/shim-bench-decode --weights $(BUNDLE) --voices $(VOICES) $(DECODE_ARGS) \
	  --json out/bench-decode-$$(date +%Y%m%d-%H%M%S).json

.PHONY: measure-image
measure-image: venv docker test-bundle ## Image sizes and build times for docs/IMAGE.md (test build, this machine)
	bash scripts/measure_image.sh out/image-measure.txt

.PHONY: bench-failover
bench-failover: venv ## Failover/rollback wall times on a running lab (KEEP_LAB=1 make demo first)
	$(BIN)/python scripts/bench_failover.py --cycles 5 --json out/failover-bench.json

.PHONY: verify-weights
verify-weights: venv ## Check DIR=... against the pinned manifest
	$(BIN)/verify-weights $(DIR)

.PHONY: clean
clean: ## Remove the venv, caches and bench output
	rm -rf $(VENV) $(CACHE) out app/.pytest_cache
