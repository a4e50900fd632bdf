# Ferrite — the front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PYTHON      ?= python3
REQUIREMENTS := infra/requirements.txt
# The stamp names the requirements' hash: editing the pins reinstalls, a second run does nothing.
STAMP       := $(VENV)/.installed-$(shell sha256sum $(REQUIREMENTS) | cut -c1-16)
# Cargo tools the checks need, pinned and installed into the project by `make setup`.
TOOLS       := .tools
MACHETE_VERSION := 0.9.2
MACHETE     := $(TOOLS)/bin/cargo-machete
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
CARGO       ?= cargo
# `--bin` without `--package`: the feature resolution `cargo lambda watch` uses for the functions,
# so the local stack and the functions share one set of build artifacts.
LOCAL       := $(CARGO) run --quiet --bin ferrite-local --
# Template parameters for the local stack, as `sam deploy --parameter-overrides` would set them:
# `make dev PARAMS="RegistrationMode=silent"`.
PARAMS      ?=
# The local stand-in issuers mint ID tokens for the client id `ferrite-local`.
LOCAL_OIDC  := GoogleClientIds=ferrite-local AppleClientIds=ferrite-local OidcClientIds=ferrite-local
export FERRITE_PARAMETERS := $(LOCAL_OIDC) $(PARAMS)
# Every client of a test, soak or fuzz run is 127.0.0.1: one source IP for hundreds of
# registrations. Those runs lift the per-IP registration limit (its own test sets it low).
MANY_CLIENTS := FERRITE_PARAMETERS="RegistrationsPerIpPerHour=1000000 PostsPerUserPerHour=1000000 PasswordResetsPerIpPerHour=1000000 SignInLinksPerIpPerHour=1000000 $(LOCAL_OIDC) $(PARAMS)"
# nextest when installed (faster, one process per test); cargo test otherwise.
TEST_RUNNER := $(shell if $(CARGO) nextest --version >/dev/null 2>&1; then echo "$(CARGO) nextest run --workspace --no-fail-fast"; else echo "$(CARGO) test --workspace --no-fail-fast"; fi)

.PHONY: help setup test lint new-function bench capacity load openapi fuzz fuzz-ci docs-check soak smoke seed fmt dev endpoint down build deploy admin clean fire

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: $(STAMP) $(MACHETE) ## Install the local toolchain (moto, cfn-lint, SAM CLI, cargo-lambda into .venv; cargo-machete into .tools)

$(MACHETE):
	$(CARGO) install --quiet --locked --version $(MACHETE_VERSION) --root $(TOOLS) cargo-machete

$(STAMP): $(REQUIREMENTS)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	@rm -f $(VENV)/.installed-* && touch $@

test: setup ## Every test, against a private local stack (endpoint, functions, gateway) started and stopped here
	$(VENV)/bin/python -m unittest discover --start-directory infra/tests --top-level-directory infra/tests
	$(MANY_CLIENTS) $(LOCAL) exec --api -- $(TEST_RUNNER)

lint: setup ## rustfmt, clippy -D warnings, unused dependencies (cargo-machete), cfn-lint (every stack, as written and SAM-expanded), sam validate --lint
	$(CARGO) fmt --all -- --check
	$(MACHETE)
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cfn-lint template.yaml stacks/*.yaml
	@# What CloudFormation receives: each stack of the tree after the SAM transform (aliases,
	@# deployment groups, roles, permissions), which cfn-lint does not expand on its own. No rule
	@# is ignored.
	@rm -rf .local/expanded && mkdir -p .local/expanded
	$(VENV)/bin/python infra/sam_expand.py --tree template.yaml .local/expanded
	cfn-lint .local/expanded/*.json
	@for template in template.yaml stacks/*.yaml; do sam validate --lint --template $$template; done

new-function: ## A function crate like the others, in its domain's stack: make new-function NAME=properties-list ROUTE="GET /v1/properties" [STACK=registry] [DESCRIPTION=...]
	@test -n "$(NAME)" -a -n "$(ROUTE)" || { echo 'usage: make new-function NAME=properties-list ROUTE="GET /v1/properties"'; exit 2; }
	$(PYTHON) infra/new_function.py --name "$(NAME)" --route "$(ROUTE)" $(if $(STACK),--stack "$(STACK)") $(if $(DESCRIPTION),--description "$(DESCRIPTION)")

bench: setup ## Cold start (vs hello-world and the peer), warm latency, memory and size of the functions -> BENCHMARKS.md (BENCH_QUICK=1 BENCH_ONLY=a,b for a look)
	$(LOCAL) exec --provision -- $(CARGO) run --quiet --package bench-runner --bin ferrite-bench

capacity: setup ## Cost per endpoint and per month, and where it stops, from measured calls and capacity units -> CAPACITY.md
	rm -f .local/capacity/calls.jsonl && mkdir -p .local/capacity
	FERRITE_CAPACITY_OUT=$(CURDIR)/.local/capacity/calls.jsonl $(LOCAL) exec -- $(CARGO) test --quiet --package ferrite-tests --test api -- calls::
	$(VENV)/bin/python infra/capacity.py --calls .local/capacity/calls.jsonl --out CAPACITY.md

openapi: ## Regenerate openapi.json from the Rust types (a test fails when it is stale)
	$(CARGO) run --quiet --package api-spec

fuzz: setup ## Schemathesis against the whole local stack: >= 5,000 generated requests, bounded in time
	$(CARGO) build --quiet --package infra --bin ferrite-admin
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_MAX_TIME=$${FUZZ_MAX_TIME:-420} FUZZ_MIN_REQUESTS=$${FUZZ_MIN_REQUESTS:-5000} \
	  $(MANY_CLIENTS) $(LOCAL) exec --api -- $(VENV)/bin/python infra/fuzz.py

fuzz-ci: ## The short fuzz run of CI (about a minute of generated requests)
	$(MAKE) fuzz FUZZ_EXAMPLES=5 FUZZ_MAX_TIME=60 FUZZ_MIN_REQUESTS=300

soak: setup ## The whole stack under a mixed workload for SOAK_SECS (default 600), then the pipeline's promises checked
	$(MANY_CLIENTS) $(LOCAL) exec --api -- $(CARGO) run --quiet --bin ferrite-soak

load: setup ## A bounded mixed load on the local stack (LOAD_SECS=180 LOAD_USERS=16 LOAD_MAX_REQUESTS=30000): throughput, p50/p99, where the time goes, nothing lost -> bench/load.md
	$(MANY_CLIENTS) $(LOCAL) exec --api -- $(CARGO) run --quiet --bin ferrite-soak -- --secs $${LOAD_SECS:-180} --users $${LOAD_USERS:-16} --max-requests $${LOAD_MAX_REQUESTS:-30000} --report bench/load.md

fire: setup ## Fire a schedule of the template into the running `make dev` stack, as of a time: make fire SCHEDULE=RentSchedule [AT=2027-02-01T00:05:00Z]
	@test -n "$(SCHEDULE)" || { echo 'usage: make fire SCHEDULE=RentSchedule [AT=2027-02-01T00:05:00Z]'; exit 2; }
	$(LOCAL) fire "$(SCHEDULE)" $(if $(AT),--at "$(AT)")

smoke: setup ## The user journeys against API_URL (a deployed stack), leaving nothing behind; without API_URL, against a private local stack
	@if [ -n "$(API_URL)" ]; then \
	  $(CARGO) run --quiet --package infra --bin ferrite-smoke -- --api "$(API_URL)"; \
	else \
	  $(LOCAL) exec --api -- sh -c 'API_URL=$$FERRITE_API_URL SMOKE_MAILBOX_URL=$$AWS_ENDPOINT_URL $(CARGO) run --quiet --package infra --bin ferrite-smoke -- --local-admin'; \
	fi

seed: ## Load a realistic data set (posts, registry properties, leases) into the running `make dev` (make seed N=2000 posts), then time it
	$(CARGO) run --quiet --bin ferrite-seed -- --posts $${N:-1000}

docs-check: setup ## Render /v1/docs in headless Chromium and check that every operation shows
	$(LOCAL) exec --api -- $(VENV)/bin/python infra/docs_check.py

fmt: ## Format the code
	$(CARGO) fmt --all

dev: setup ## The whole API on http://127.0.0.1:3000 (endpoint, functions, gateway); Ctrl-C stops it
	$(LOCAL) dev

endpoint: setup ## Only the local AWS endpoint on :4566, provisioned; it keeps running (make down)
	$(LOCAL) up

down: ## Stop the endpoint started by make endpoint
	$(LOCAL) down

build: setup ## sam build (cargo-lambda, arm64), no prompt (samconfig.toml)
	sam build --template template.yaml < /dev/null

ADMIN       := $(CARGO) run --quiet --package infra --bin ferrite-admin --
ENV         ?= dev

# `make deploy ENV=dev --dry-run` (make's -n) prints every command, deploy.py's included: its
# line runs under -n (`+`) with --dry-run, so it only prints.
DRY_RUN     := $(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run)

deploy: build ## make deploy ENV=dev|prod: samconfig.toml's section, no prompt (GUIDED=1 asks); keys made if absent
	+$(if $(DRY_RUN),$(PYTHON),$(VENV)/bin/python) infra/deploy.py $(ENV) $(if $(GUIDED),--guided) $(DRY_RUN)

admin: ## Make an account an admin: make admin EMAIL=you@example.com (TABLE_NAME and AWS credentials, or the local stack)
	@test -n "$(EMAIL)" || (echo "usage: make admin EMAIL=you@example.com" && exit 2)
	@if [ -z "$${TABLE_NAME:-}" ] && [ -f .local/env ]; then . ./.local/env; fi; \
	  $(ADMIN) grant-role --email "$(EMAIL)" --role ADMIN

clean: ## Remove build outputs, the venv and local state
	rm -rf target .aws-sam $(VENV) $(TOOLS) .local
