# The two commands: `make run` (the whole bundle on localhost) and `make test` (every check).
# Both install what they need into the project venv .venv/ from the pinned requirements.txt.

.PHONY: run test smoke build venv fmt

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

# `make run` without the serving part: start everything, replay events/, stop; fails if an
# invocation fails. CI runs it after `make test`.
smoke:
	bash scripts/run.sh --once

# The deployable arm64 build (cargo lambda, then sam build), checked. CI runs it after smoke.
build:
	bash scripts/build.sh

venv:
	bash scripts/bootstrap.sh

fmt:
	cargo fmt --all
