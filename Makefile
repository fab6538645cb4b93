# The two commands: `make run` (the whole bundle on localhost) and `make test` (every check).
# Both install what they need (scripts/bootstrap.sh) into project-local, git-ignored folders from
# pinned lock files: .venv/ (requirements.txt) and tools/dynamodb-local/node_modules/.

.PHONY: run test smoke soak build invoke venv fmt install-ops

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

# `make run` without the serving part: start everything, replay events/, stop; fails if an
# invocation fails. CI runs it after `make test`.
smoke:
	bash scripts/run.sh --once

# The history checker for a long time (not in CI): default 100,000 deliveries; prints histories,
# deliveries, faults by kind, retries, invariant violations and items lost (both must be 0).
soak:
	bash scripts/soak.sh

# The deployable arm64 build (cargo lambda, then sam build), checked. CI runs it after smoke.
build:
	bash scripts/build.sh

# `sam local invoke <Function> -e <file>` without Docker: the function's bootstrap under AWS's
# Lambda Runtime Interface Emulator against the local stack, e.g.
#   make invoke FN=postback EVENT=events/postback-1-new-push.json
invoke:
	bash scripts/invoke.sh "$(FN)" "$(EVENT)"

# The operator's command on this machine (issue #29.5): a release build of `ops`, installed as
# $(PREFIX)/bin/ops (default ~/.local). `make build` also makes a Linux arm64 one in target/deploy/dist/.
PREFIX ?= $(HOME)/.local
install-ops:
	cargo build --release --locked -p ops
	install -d "$(PREFIX)/bin"
	install -m 0755 target/release/ops "$(PREFIX)/bin/ops"
	"$(PREFIX)/bin/ops" --help | head -n 1

venv:
	bash scripts/bootstrap.sh

fmt:
	cargo fmt --all
