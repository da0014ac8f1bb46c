#!/usr/bin/env bash
# TensorStore against a real RAM-backed Ceph on loopback: deploys ceph/ramceph,
# runs the RadosStore XCTests, checks `prunesweep store` against `rados get`
# and Python safetensors, then the faults: a corrupted object, a killed OSD,
# a stopped monitor. Always tears the cluster down. About 1-2 minutes.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
source Tests/lib.sh
SCRATCH=${SCRATCH:-.build-store}
DIR=$(mktemp -d /tmp/tensorstore-test.XXXXXX)
WORK=$DIR/work
mkdir -p "$WORK"

teardown() { ceph/ramceph down --dir "$DIR/ceph" >/dev/null 2>&1; rm -rf "$DIR"; }
trap teardown EXIT

python3 -c 'import safetensors' 2>/dev/null || pip install -q safetensors
swift build --scratch-path "$SCRATCH" --build-tests >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
PS=$SCRATCH/debug/prunesweep

ceph/ramceph up --dir "$DIR/ceph" --osds-per-node 2 --osd-size 1G || exit 1
# shellcheck source=/dev/null
source "$DIR/ceph/env"
URL="$PRUNESWEEP_STORE&timeout=5"

check "RadosStore XCTests against the cluster" \
  env PRUNESWEEP_TEST_RADOS_URL="$URL" swift test --scratch-path "$SCRATCH" --skip-build --filter TensorStoreTests.RadosStoreTests

python3 - "$WORK/py.safetensors" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
save_file({"fc1.weight": np.linspace(-1, 1, 3000, dtype=np.float32).reshape(30, 100),
           "fc1.weight_mask": (np.arange(3000) % 3 == 0).astype(np.float32).reshape(30, 100)}, sys.argv[1])
PY

rados_identical() {
  "$PS" store put parent/py "$WORK/py.safetensors" --store "$URL" --task "test put" &&
    "$PS" store get parent/py "$WORK/via-store.st" --store "$URL" &&
    rados -p "$RAMCEPH_POOL" get parent/py "$WORK/via-rados.st" &&
    cmp "$WORK/via-store.st" "$WORK/via-rados.st"
}
check "store put/get and 'rados get' give identical bytes" rados_identical

python_reads() {
  python3 - "$WORK/via-rados.st" "$WORK/py.safetensors" <<'PY'
import sys, numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
m = safe_open(sys.argv[1], "np").metadata()
assert m["task"] == "test put" and m["checksum"].startswith("crc32:"), m
PY
}
check "Python safetensors reads an object fetched with 'rados get'" python_reads

listing() { "$PS" store ls parent/ --store "$URL" | grep -q $'\tparent/py\ttask=test put'; }
check "store ls shows size and provenance" listing

verify_ok() { "$PS" store verify --store "$URL" | tail -1 | grep -qx "1 objects, 0 bad"; }
check "store verify passes on good objects" verify_ok

# Corrupt with `rados put`: one flipped byte in the data section, then a truncation.
corrupted() {
  python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[-7]^=1; open(sys.argv[2],'wb').write(b)" \
    "$WORK/via-rados.st" "$WORK/flipped.st" &&
    rados -p "$RAMCEPH_POOL" put parent/py "$WORK/flipped.st" &&
    ! "$PS" store get parent/py "$WORK/out.st" --store "$URL" 2>"$WORK/err" &&
    grep -q "parent/py: corrupt object: checksum mismatch" "$WORK/err" && [[ ! -e $WORK/out.st ]] &&
    ! "$PS" store verify --store "$URL" >"$WORK/verify.out" && grep -q "1 objects, 1 bad" "$WORK/verify.out"
}
check "an object corrupted with 'rados put' fails its checksum" corrupted

truncated() {
  head -c 5000 "$WORK/via-rados.st" >"$WORK/short.st" && rados -p "$RAMCEPH_POOL" put parent/py "$WORK/short.st" &&
    ! "$PS" store get parent/py "$WORK/out.st" --store "$URL" 2>"$WORK/err" && grep -q "truncated" "$WORK/err"
}
check "a truncated object is reported as truncated" truncated

cli_errors() {
  ! "$PS" store get parent/none "$WORK/x" --store "$URL" 2>"$WORK/e1" && grep -q "parent/none: no such object" "$WORK/e1" &&
    ! "$PS" store rm parent/none --store "$URL" 2>/dev/null &&
    ! "$PS" store ls --store "rados://$RAMCEPH_POOL?id=job" 2>"$WORK/e2" && grep -q "missing conf" "$WORK/e2" &&
    ! "$PS" store ls --store "ftp://x" 2>/dev/null &&
    ! "$PS" store put a/b /etc/hostname --store "$URL" 2>"$WORK/e3" && grep -q "not a valid safetensors" "$WORK/e3" &&
    "$PS" store rm parent/py --store "$URL" && ! rados -p "$RAMCEPH_POOL" stat parent/py 2>/dev/null
}
check "CLI: clear errors and non-zero exit; rm removes" cli_errors

pid_of() { # pid of a daemon of this deployment, checked against /proc/PID/comm
  local pid; pid=$(cat "$DIR/ceph/run/$1.pid" 2>/dev/null) || return 1
  [[ $(cat /proc/"$pid"/comm 2>/dev/null) == "$2" ]] && echo "$pid"
}

# Kill the OSD that holds an object: a get fails with a timeout, not a hang.
osd_killed() {
  "$PS" store put victim "$WORK/py.safetensors" --store "$URL" || return 1
  local osd pid start rc
  osd=$(ceph osd map "$RAMCEPH_POOL" victim -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["acting_primary"])')
  pid=$(pid_of "osd.$osd" ceph-osd) || return 1
  kill -KILL "$pid"
  start=$SECONDS
  timeout 60 "$PS" store get victim "$WORK/v.st" --store "$URL" 2>"$WORK/err"; rc=$?
  echo "  get with osd.$osd dead: exit $rc after $((SECONDS - start)) s: $(cat "$WORK/err")"
  ((rc != 0 && rc != 124 && SECONDS - start <= 20)) && grep -q "victim: .*timed out" "$WORK/err"
}
check "OSD killed: a get of its object fails within the timeout" osd_killed

mon_stopped() {
  local pid start rc
  pid=$(pid_of mon.a ceph-mon) || return 1
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  start=$SECONDS
  timeout 60 "$PS" store ls --store "$URL" 2>"$WORK/err"; rc=$?
  echo "  connect with the mon down: exit $rc after $((SECONDS - start)) s: $(cat "$WORK/err")"
  ((rc != 0 && rc != 124 && SECONDS - start <= 20)) && grep -q "unavailable" "$WORK/err"
}
check "monitor stopped: connecting fails within the timeout" mon_stopped

finish
