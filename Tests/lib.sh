# shellcheck shell=bash
# Shared by the shell test suites: `check NAME CMD...` runs one case,
# `finish` prints the plain tally line and sets the exit status.
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

finish() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}
