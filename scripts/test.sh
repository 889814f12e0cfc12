#!/usr/bin/env bash
# Runs every test: installs missing -dev packages (and chromium + chromium-driver), prepares the real Python SDK
# (argus-reporter 0.1.3), selenium (for the web page's browser tests, Tests/Web) and schemathesis (OpenAPITests) in
# .build/sdk-venv, builds debug, installs the binaries in .build/installed, starts a throwaway PostgreSQL cluster
# (scripts/pg-cluster.sh; its URL in ARGUS_TEST_DATABASE_URL, stopped on exit) and runs `swift test`, then the server
# suite again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
venv=.build/sdk-venv
# The Python side is prepared while Swift builds (pip waits on the network and unpacks; the build is the compiler),
# which takes its ~30 s off a fresh clone's run. Its output goes to a log, shown only when it fails.
python_tools() {
  set -e
  if ! "$venv/bin/python" -c "import argus, sys; sys.exit(0 if argus.__version__ == '0.1.3' else 1)" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check argus-reporter==0.1.3
  fi
  "$venv/bin/python" -c "import selenium" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check selenium
  # schemathesis: OpenAPITests fuzzes a live server against openapi.json with it.
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('schemathesis') == '4.32.5' else 1)" 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
  fi
}
mkdir -p .build
python_log=.build/sdk-venv.log
python_tools >"$python_log" 2>&1 &
python_pid=$!
trap 'kill $python_pid 2>/dev/null || true' EXIT
export ARGUS_SDK_PYTHON="$PWD/$venv/bin/python"
# Four test cases at a time, each on a thread of its own (Tests/TestSupport/OwnThread.swift): most of them wait on a
# server, tmux or a browser, and without it they run one per core (a synchronous test holds a thread of Swift
# concurrency's pool, which has one per core), which left the cores idle most of the time.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-4}"
swift build --build-tests
if ! wait "$python_pid"; then
  cat "$python_log" >&2
  echo "test: preparing the Python tools in $venv failed (above)." >&2
  exit 1
fi
# The binaries as scripts/install.sh installs them (Swift runtime linked in); InstallTests checks they need no
# toolchain. (Linked again from the build above: nothing is compiled twice.)
ARGUS_BUILD_CONFIG=debug ARGUS_INSTALL_BUILT=1 scripts/install.sh .build/installed
export ARGUS_INSTALLED_BIN="$PWD/.build/installed"
# What a crashed test leaves running (its servers, agents, tmux sessions, browsers) is stopped when the run ends:
# every process the tests start inherits ARGUS_TEST_RUN, and only this run's value is looked for.
ARGUS_TEST_RUN="$$-$(date +%s%N)"
leftovers() {
  local pids=() p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    grep -qzx "ARGUS_TEST_RUN=$ARGUS_TEST_RUN" "/proc/$p/environ" 2>/dev/null && pids+=("$p")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    echo "test: stopping ${#pids[@]} process(es) the tests left running (a test may have crashed):" >&2
    ps -o pid=,args= -p "$(IFS=,; echo "${pids[*]}")" 2>/dev/null | cut -c1-160 | sed 's/^/  /' >&2 || true
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
}
# The PostgreSQL backend's tests: a throwaway cluster for this run (each test makes and drops its own database).
trap 'leftovers; scripts/pg-cluster.sh stop' EXIT
ARGUS_TEST_DATABASE_URL=$(scripts/pg-cluster.sh start)
export ARGUS_TEST_DATABASE_URL ARGUS_TEST_RUN
swift test --skip-build "$@"
# The server suite once more with every server on PostgreSQL (TestBackend), with the replica and `db copy` tests that
# only run there. Given arguments (e.g. --filter X) narrow this pass too.
if [ $# -eq 0 ]; then set -- --filter ArgusServerTests; fi
ARGUS_TEST_BACKEND=postgres swift test --skip-build "$@"
