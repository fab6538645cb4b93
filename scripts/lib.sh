# Shell helpers shared by run.sh, invoke.sh and bench/run.sh (sourced, not run).

# True when something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A loopback port nobody listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until $1 accepts connections; on timeout prints the tail of log $3 and exits.
wait_for_port() {
  local port=$1 what=$2 log=$3
  for _ in $(seq 1 600); do
    port_open "$port" && return 0
    sleep 0.1
  done
  echo "$what did not open port $port; see $log" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}

# The one debug build of the workspace: every binary and every test target, so `make test`,
# `make run`, `make smoke` and `make invoke` share its artifacts (built separately, the functions'
# dependencies get another feature set and are compiled again).
debug_build() {
  cargo build --quiet --locked --workspace --bins --tests
}

# AWS's Lambda Runtime Interface Emulator for this machine, from the aws-sam-cli wheel in .venv.
rie_binary() {
  local arch
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "no aws-lambda-rie for $(uname -m)" >&2; return 1 ;;
  esac
  local found
  found=$(ls "$(dirname "${BASH_SOURCE[0]}")"/../.venv/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-"$arch" 2>/dev/null | head -n 1)
  [ -n "$found" ] || { echo "aws-lambda-rie not found in .venv (scripts/bootstrap.sh installs aws-sam-cli)" >&2; return 1; }
  chmod +x "$found" 2>/dev/null || true
  echo "$found"
}

# Prints "== <what>" and, from the second call on, how long the previous step took; step_done
# closes the last one. For CI logs: where the time goes.
_step_name=""
_step_started=0
step() {
  step_done
  _step_name=$*
  _step_started=$(date +%s)
  printf '\n== %s\n' "$_step_name"
}
step_done() {
  if [ -n "$_step_name" ]; then
    printf '== %s: %s s\n' "$_step_name" "$(($(date +%s) - _step_started))"
  fi
  _step_name=""
}

# The oldest Python the project supports (README "The two commands"): the lock files are resolved
# for it and every newer one (scripts/lock-python.sh), and the bootstrap refuses an older one.
OLDEST_PYTHON=3.10

# The oldest Python on this machine that the project supports (>= OLDEST_PYTHON), for CI's
# bare-machine check: python3.N on PATH, /usr/bin/python3*, and pyenv's versions. Prints its path.
oldest_python() {
  local candidate version best="" best_version=""
  for candidate in $(compgen -c python3 | sort -u) /usr/bin/python3* "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3; do
    [[ $candidate == */* ]] || candidate=$(command -v "$candidate" 2>/dev/null) || continue
    [ -x "$candidate" ] || continue
    version=$("$candidate" -c "import sys; v = sys.version_info; print(v[0] * 1000000 + v[1] * 1000 + v[2] if v >= tuple(map(int, '$OLDEST_PYTHON'.split('.'))) else '')" 2>/dev/null) || continue
    [ -n "$version" ] || continue
    if [ -z "$best" ] || [ "$version" -lt "$best_version" ]; then best=$candidate best_version=$version; fi
  done
  [ -n "$best" ] || { echo "no Python $OLDEST_PYTHON or newer on this machine" >&2; return 1; }
  echo "$best"
}
