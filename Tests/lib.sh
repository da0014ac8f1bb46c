# shellcheck shell=bash
# Shared by the shell test suites: `check NAME CMD...` runs one case,
# `wait_for` polls with a deadline, `finish` prints the plain tally line and
# sets the exit status.
# The binary under test: the release build, unless PRUNESWEEP_BIN names another.
# shellcheck disable=SC2034  # used by the suites that source this file
BIN=${PRUNESWEEP_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/release/prunesweep}
PASSED=0
FAILED=0

check() {
  local name=$1; shift
  if "$@"; then
    PASSED=$((PASSED + 1)); echo "ok - $name"
  else
    FAILED=$((FAILED + 1)); echo "not ok - $name"
  fi
}

# wait_for SECS CMD...: poll CMD every 0.2 s until it succeeds or SECS pass.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

# metrics JOURNAL: task -> [status, metrics], one sorted line per task (the last
# line of a task wins): what must not depend on ranks, hosts or store.
metrics() {
  python3 - "$1" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r["task"]] = json.dumps([r["status"], r["metrics"]], sort_keys=True)
for k in sorted(rows): print(k, rows[k])
PY
}
