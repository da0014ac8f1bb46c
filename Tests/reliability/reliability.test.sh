#!/usr/bin/env bash
# Hostile input and a hostile machine (issue 18): one case per class of
# failure found by hand, then kill -9 of an `mpirun -np 2` sweep at points
# drawn from a fixed seed, resumed each time: every task exactly once, the
# metrics of an uninterrupted run, no rank left behind, no journal line
# written after the launcher died. Prints the figures the closing note quotes.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d)
# Open MPI's shared-memory segments go to a directory of this run (as in the
# sbatch template), so a killed run's leftovers can be found and removed.
SHM=/dev/shm/prunesweep-reliability.$$
export OMPI_MCA_btl_vader_backing_directory=$SHM
MOUNTED=''
cleanup() {
  [[ -n $MOUNTED ]] && umount "$MOUNTED"
  rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
mkdir -p "$SHM"
SWEEP=Tests/reliability/sweep.toml
DATA=/usr/share/datasets/fashion-mnist

# fails CODE PATTERN CMD...: CMD exits with CODE within 20 s (a hang fails),
# its stderr matches PATTERN; a crash (signal) never passes.
fails() {
  local code=$1 pattern=$2 status=0; shift 2
  timeout 20 "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status -eq $code ]] || { echo "exit $status, expected $code" >&2; tail -5 "$WORK/err" >&2; return 1; }
  grep -Eq -- "$pattern" "$WORK/err" || { echo "stderr does not match '$pattern':" >&2; tail -5 "$WORK/err" >&2; return 1; }
}

# quietly LOG CMD...: CMD with its output in LOG.
quietly() {
  local log=$1; shift
  "$@" >"$log" 2>&1
}

# sweep_with LINES...: the suite's sweep file with LINES appended under [run]
# (or replacing the table they name), written to $WORK/s.toml.
sweep_with() {
  { cat "$SWEEP"; printf '%s\n' "$@"; } >"$WORK/s.toml"
}

# ---------------------------------------------------------------- parsers

case_parser_recursion() {
  { echo 'name = "x"'; printf 'a = '; head -c 50000 /dev/zero | tr '\0' '['; echo; } >"$WORK/deep.toml"
  check "50,000 nested '[': an error, no segfault" fails 2 "deep.toml:2: arrays nested more than" "$BIN" plan "$WORK/deep.toml"
  { echo 'name = "x"'; printf 'a'; for _ in $(seq 2000); do printf '.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b'; done; echo ' = 1'; } >"$WORK/dotted.toml"
  check "a dotted key of 38,000 parts: an error at once" fails 2 "dotted.toml:2: key 'a.b.b.…' has more than" "$BIN" plan "$WORK/dotted.toml"
}

case_plan_bounds() {
  sed 's/arch = "lenet5"/arch = "mlp:9223372036854775807"/' "$SWEEP" >"$WORK/s.toml"
  check "plan: an MLP width of 2^63-1 is refused" fails 2 "s.toml:10: 'parent.arch': unknown architecture" "$BIN" plan "$WORK/s.toml"
  sed 's/^batch = 50$/batch = 9223372036854775807/' "$SWEEP" >"$WORK/s.toml"
  check "plan: batch 2^63-1 is refused" fails 2 "'parent.batch': must be at most" "$BIN" plan "$WORK/s.toml"
  sed 's/^batch = 50$/batch = 5000/' "$SWEEP" >"$WORK/s.toml"
  check "plan: a batch larger than the training set is refused" fails 2 "'parent.batch': batch 5000 is larger than the 2000 training images" "$BIN" plan "$WORK/s.toml"
  sweep_with '[kd]' 'temperature = 1e308'
  check "plan: temperature 1e308 is refused" fails 2 "'kd.temperature': must be at most 1000" "$BIN" plan "$WORK/s.toml"
  sweep_with '[run]' 'threads = 100000'
  check "plan: 100,000 threads are refused" fails 2 "'run.threads': 100000 threads, more than 4 per core" "$BIN" plan "$WORK/s.toml"
  sed 's/arch = "lenet5"/arch = "mlp:65536,65536,65536,65536"/' "$SWEEP" >"$WORK/s.toml"
  check "plan: a model larger than the memory is refused" fails 2 "'parent.arch': .* needs about [0-9]+ MiB, more than the" "$BIN" plan "$WORK/s.toml"
  sed 's/name = "rel"/name = ".."/' "$SWEEP" >"$WORK/s.toml"
  check "name '..' cannot leave --results" fails 2 "'name': must be 1 to 128 letters" "$BIN" run "$WORK/s.toml" --results "$WORK/esc/inner"
  check "nothing was written beside --results" test ! -e "$WORK/esc/results.jsonl"
}

# ---------------------------------------------------------------- sizes and files

# idx FILE MAGIC DIMS... : an IDX header with no data.
idx() {
  local f=$1; shift
  python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack(">" + "I" * (len(sys.argv) - 1), *[int(a, 0) for a in sys.argv[1:]]))' "$@" >"$f"
}

case_data_sizes() {
  mkdir -p "$WORK/huge" "$WORK/empty" "$WORK/wide"
  cp "$DATA"/t10k-labels-idx1-ubyte.gz "$WORK/huge/"
  idx "$WORK/huge/t10k-images-idx3-ubyte" 0x803 0xFFFFFFFF 28 28
  "$BIN" train --arch mlp:8 --epochs 0 --out "$WORK/m.safetensors" >/dev/null
  check "an IDX header claiming 2^32 images: refused before allocating" \
    fails 1 "t10k-images-idx3-ubyte: truncated: header claims 4294967295x28x28 = .* bytes of data, but the 16-byte file holds 0" "$BIN" eval "$WORK/m.safetensors" --data "$WORK/huge"
  idx "$WORK/empty/t10k-images-idx3-ubyte" 0x803 0 28 28
  idx "$WORK/empty/t10k-labels-idx1-ubyte" 0x801 0
  check "an IDX file of 0 images is an error, not accuracy -nan and exit 0" \
    fails 1 "dimension 0 of 0x28x28 is 0" "$BIN" eval "$WORK/m.safetensors" --data "$WORK/empty"
  python3 - "$WORK/wide" <<'EOF'
import struct, sys
d = sys.argv[1]
open(d + "/t10k-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, 3, 32, 32) + bytes(3 * 32 * 32))
open(d + "/t10k-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, 3) + bytes([1, 2, 3]))
EOF
  check "32x32 images for a 28x28 model: an error, no trap" \
    fails 1 "model takes 28x28 images but the data has 32x32" "$BIN" eval "$WORK/m.safetensors" --data "$WORK/wide"
}

# model_with KEY VALUE: the test model with one __metadata__ entry replaced.
model_with() {
  python3 - "$WORK/m.safetensors" "$WORK/meta.safetensors" "$1" "$2" <<'EOF'
import json, struct, sys
src, dst, key, value = sys.argv[1:]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h["__metadata__"][key] = value
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(dst, "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
EOF
}

case_model_metadata() {
  local spec key value
  for spec in "classes=-1" "input_side=9223372036854775807" "input_side=abc" "architecture=mlp:65536"; do
    key=${spec%%=*} value=${spec#*=}
    model_with "$key" "$value"
    check "a model file whose $key is '$value': an error naming it" \
      fails 1 "meta.safetensors: not a valid safetensors file: .*($key|parameters)" "$BIN" eval "$WORK/meta.safetensors"
  done
}

case_not_files() {
  mkdir -p "$WORK/fifo"
  cp "$DATA"/t10k-labels-idx1-ubyte.gz "$WORK/fifo/"
  mkfifo "$WORK/fifo/t10k-images-idx3-ubyte"
  check "a FIFO as a data file: refused, no hang" fails 1 "t10k-images-idx3-ubyte: not a regular file \(a FIFO\)" "$BIN" eval "$WORK/m.safetensors" --data "$WORK/fifo"
  mkfifo "$WORK/fifo.toml"
  check "a FIFO as the sweep file: refused, no hang" fails 2 "fifo.toml: not a regular file" "$BIN" plan "$WORK/fifo.toml"
  mkdir -p "$WORK/fj/rel"
  mkfifo "$WORK/fj/rel/results.jsonl"
  check "a FIFO as the journal: refused, no hang" fails 74 "results.jsonl: not a regular file" "$BIN" run "$SWEEP" --results "$WORK/fj"
  mkdir -p "$WORK/st/parent"
  mkfifo "$WORK/st/parent/x.safetensors"
  check "a FIFO as a store object: refused, no hang" fails 1 "parent/x: .*not a regular file" "$BIN" store get parent/x "$WORK/x.out" --store "file://$WORK/st"
  # a sparse 50 GiB object with a valid header: get must not allocate it
  python3 - "$WORK/st/big.safetensors" <<'EOF'
import json, struct, sys
n = 50 << 30
h = json.dumps({"__metadata__": {"checksum": "00000000", "task": "t"}, "w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n)
EOF
  check "store get of a 50 GiB object: refused before allocating" fails 1 "big: .*needs [0-9]+ bytes, more than the [0-9]+ bytes of memory available" "$BIN" store get big "$WORK/x.out" --store "file://$WORK/st"
  rm -f "$WORK/st/big.safetensors"
  check "store verify of a store that does not exist: an error" fails 1 "no such directory" "$BIN" store verify --store "file://$WORK/typo"
  check "... and the typo did not become a directory" test ! -e "$WORK/typo"
}

# ---------------------------------------------------------------- the sweep

# run_sweep DIR [mpirun args]: the suite's sweep on 2 ranks, to DIR.
run_sweep() {
  timeout 120 mpirun -np 2 "$BIN" run "$SWEEP" --results "$1" >"$WORK/run.log" 2>&1
}

# metrics JOURNAL: one line per task, sorted: id and metrics (nothing of where or when).
metrics() {
  python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["task"], r["status"], json.dumps(r.get("metrics"), sort_keys=True))
' "$1" | sort
}

# tasks_once JOURNAL N: N lines, N distinct tasks, all done.
tasks_once() {
  local lines distinct
  lines=$(wc -l <"$1")
  distinct=$(python3 -c 'import json, sys; print(len({json.loads(l)["task"] for l in open(sys.argv[1])}))' "$1")
  echo "journal: $lines lines, $distinct distinct tasks, expected $2"
  [[ $lines -eq $2 && $distinct -eq $2 ]] && ! grep -q '"status":"failed"' "$1"
}

case_baseline() {
  check "an uninterrupted mpirun -np 2 sweep ends 0" run_sweep "$WORK/base"
  metrics "$WORK/base/rel/results.jsonl" >"$WORK/base.metrics"
  TOTAL=$(wc -l <"$WORK/base.metrics")
  check "it ran every task once" tasks_once "$WORK/base/rel/results.jsonl" "$TOTAL"
}

# pids_of_children PID: the processes whose parent is PID.
pids_of_children() { ps -o pid= --ppid "$1" | tr -d ' '; }

# gone PIDS...: none of these processes runs (a zombie has ended: only its
# parent's wait is missing, and init here may reap late).
gone() {
  local p state
  for p in "$@"; do
    state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo gone)
    [[ $state == gone || $state == Z || -z $state ]] || return 1
  done
}

lines_of() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# One kill -9 of mpirun at a point drawn from RANDOM (seeded) of a run on DIR:
# its ranks must be gone within 2 s (see below), and the journal must not
# grow after the kill. A run that ends before its kill sets ENDED.
kill_once() {
  local dir=$1 journal=$1/rel/results.jsonl delay mpi ranks before after t0 p
  delay=$((300 + RANDOM % 2500))
  mpirun -np 2 "$BIN" run "$SWEEP" --results "$dir" >>"$WORK/kill.log" 2>&1 &
  mpi=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  ranks=$(pids_of_children "$mpi")
  if ! kill -0 "$mpi" 2>/dev/null; then
    wait "$mpi" || { echo "the run ended with a failure before its kill"; return 1; }
    echo "run ended before the kill at ${delay} ms"
    ENDED=1
    return 0
  fi
  [[ $(cat "/proc/$mpi/comm") == mpirun ]] || return 1
  kill -9 "$mpi"
  t0=$(date +%s%N)
  before=$(lines_of "$journal")
  wait "$mpi" 2>/dev/null || true
  # a second is the aim (ranks die within 100 ms when the machine is idle); a
  # SIGKILL waits for a running fsync, which another job's I/O can stretch
  # shellcheck disable=SC2086 # a list of PIDs
  wait_for 2 gone $ranks || {
    echo "ranks alive 2 s after mpirun was killed:"
    for p in $ranks; do echo "  $p: state $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) in $(cat "/proc/$p/wchan" 2>/dev/null)"; done
    return 1
  }
  ORPHAN_MS=$(((($(date +%s%N) - t0) / 1000000) > ORPHAN_MS ? (($(date +%s%N) - t0) / 1000000) : ORPHAN_MS))
  sleep 0.5
  after=$(lines_of "$journal")
  echo "killed at ${delay} ms: journal $before -> $after lines"
  [[ $after -eq $before ]] || { echo "a journal line was appended after mpirun died"; return 1; }
  KILLS=$((KILLS + 1))
}

# resumed DIR: the killed sweep in DIR resumed to its end has every task once
# and the uninterrupted run's metrics; adds to LOST, DUPLICATED, DIFFER.
resumed() {
  local journal=$1/rel/results.jsonl n
  check "the resumed sweep in $(basename "$1") ends 0" run_sweep "$1"
  check "every task exactly once" tasks_once "$journal" "$TOTAL"
  metrics "$journal" >"$1.metrics"
  n=$(cut -d' ' -f1 "$1.metrics" | sort -u | wc -l)
  LOST=$((LOST + TOTAL - n))
  DUPLICATED=$((DUPLICATED + $(wc -l <"$journal") - n))
  n=$(diff "$WORK/base.metrics" "$1.metrics" | grep -c '^>' || true)
  DIFFER=$((DIFFER + n))
  check "metrics equal the uninterrupted run's" test "$n" -eq 0
  check "every run's end is in the manifest" python3 -c '
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
print(len(runs), "runs in the manifest; the last ended", runs[-1].get("status"))
assert runs[-1].get("exit_code") == 0' "$1/rel/manifest.json"
}

case_kills() {
  RANDOM=18 # fixed seed: the same kill points every run
  KILLS=0 ORPHAN_MS=0 LOST=0 DUPLICATED=0 DIFFER=0
  local round=0 attempt
  # at least 10 kills; a sweep that ends between kills is checked, and a fresh one killed
  for ((attempt = 1; KILLS < 10 && attempt <= 30; attempt++)); do
    ENDED=0
    check "kill -9 of mpirun, attempt $attempt: ranks stop, no late journal line" kill_once "$WORK/killed-$round"
    ((ENDED)) && { resumed "$WORK/killed-$round"; round=$((round + 1)); }
  done
  resumed "$WORK/killed-$round"
  check "at least 10 kills survived" test "$KILLS" -ge 10
  # What Open MPI leaves: its vader segments (one per rank) of the killed runs.
  echo "left in $SHM by the killed runs: $(find "$SHM" -type f | wc -l) files ($(find "$SHM" -type f -printf '%f\n' | sed 's/\.[0-9]*$//' | sort -u | head -2 | tr '\n' ' '))"
  check "slurm/shm-clean removes them (no process maps them)" quietly "$WORK/clean.log" slurm/shm-clean "$SHM"
  check "... every one" test -z "$(find "$SHM" -type f)"
  check "nothing of prunesweep's in /dev/shm" test -z "$(find /dev/shm -maxdepth 1 -name 'prunesweep*' ! -name "prunesweep-reliability.$$" ! -name 'prunesweep-fuzz.*')"
  echo "figures: kills survived $KILLS (sweeps $((round + 1))), tasks lost $LOST, duplicated $DUPLICATED, metrics differing $DIFFER, ranks gone after mpirun's death within ${ORPHAN_MS} ms"
}

# ---------------------------------------------------------------- one run per directory

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

case_lock() {
  local pid taker t0 ms
  rm -rf "$WORK/lock"
  "$BIN" run "$SWEEP" --results "$WORK/lock" >"$WORK/first.log" 2>&1 &
  pid=$!
  wait_for 10 test -e "$WORK/lock/rel/run.lock"
  t0=$(date +%s%N)
  check "a second run on the same directory is refused (74), naming the holder" \
    fails 74 "another run holds this results directory \(host $(hostname), pid $pid, started 20" "$BIN" run "$SWEEP" --results "$WORK/lock"
  ms=$(ms_since "$t0")
  check "... within a second (${ms} ms)" test "$ms" -lt 1000
  echo "figures: second run refused in ${ms} ms"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  check "the killed run's lock is left" test -e "$WORK/lock/rel/run.lock"
  t0=$(date +%s%N)
  "$BIN" run "$SWEEP" --results "$WORK/lock" >"$WORK/over.log" 2>&1 &
  taker=$!
  check "a run takes a dead run's lock over" wait_for 10 grep -Eq "\"pid\":${taker}[,}]" "$WORK/lock/rel/run.lock"
  ms=$(ms_since "$t0")
  echo "figures: stale lock (same host) taken over ${ms} ms after the run started"
  check "... and ends 0" wait "$taker"
  check "... and says so" grep -q "took over the run lock of a run that is gone (host $(hostname), pid $pid" "$WORK/over.log"
  check "... and removes it at the end" test ! -e "$WORK/lock/rel/run.lock"
  # a lock of another host: alive while touched, stale after the 60 s lease
  printf '{"host":"elsewhere","pid":1,"started":"2026-01-01T00:00:00Z","processStart":1}' >"$WORK/lock/rel/run.lock"
  check "another host's fresh lock is respected" fails 74 "host elsewhere, pid 1" "$BIN" run "$SWEEP" --results "$WORK/lock"
  touch -d '-61 seconds' "$WORK/lock/rel/run.lock"
  check "another host's lock untouched for 61 s is taken over" quietly "$WORK/over.log" "$BIN" run "$SWEEP" --results "$WORK/lock"
}

# ---------------------------------------------------------------- wrong results in silence

case_provenance() {
  local a b
  cp -r "$WORK/base" "$WORK/swap"
  a=$(find "$WORK/swap/rel/store/parent" -name '*.safetensors' | sort | head -1)
  b=$(find "$WORK/swap/rel/store/parent" -name '*.safetensors' | sort | tail -1)
  cp "$a" "$b"
  check "store verify reports an object copied over another key" \
    fails 1 "$(basename "$b" .safetensors): corrupt object: provenance names task '$(basename "$a" .safetensors)'" \
    sh -c "'$BIN' store verify --store file://$WORK/swap/rel/store 1>&2"
  grep -v '"kind":"trial"' "$WORK/swap/rel/results.jsonl" >"$WORK/parents.jsonl"
  cp "$WORK/parents.jsonl" "$WORK/swap/rel/results.jsonl"
  check "the trials rerun on the swapped store" quietly "$WORK/swap.log" timeout 120 "$BIN" run "$SWEEP" --results "$WORK/swap"
  metrics "$WORK/swap/rel/results.jsonl" >"$WORK/swap.metrics"
  check "... get the uninterrupted run's metrics (the swapped parent recomputed)" diff -q "$WORK/base.metrics" "$WORK/swap.metrics"
  check "... and the store verifies" "$BIN" store verify --store "file://$WORK/swap/rel/store" >/dev/null
}

# ---------------------------------------------------------------- the machine

case_environment() {
  mkdir -p "$WORK/full"
  mount -t tmpfs -o size=16k tmpfs "$WORK/full"
  MOUNTED=$WORK/full
  check "a full disk: exit 74 with the system's message" \
    fails 74 "results.jsonl: cannot append to the journal: write: No space left on device" \
    "$BIN" run "$SWEEP" --results "$WORK/full" --store "file://$WORK/full-store"
  umount "$WORK/full"
  MOUNTED=''
  printf '[global]\nmon_host = 127.0.0.1:1\nauth_client_required = none\n' >"$WORK/dead.conf"
  check "a dead monitor at start: exit 74, not 2" \
    fails 74 "unavailable: no monitor answered" "$BIN" run "$SWEEP" --results "$WORK/dead" --store "rados://p?conf=$WORK/dead.conf&id=admin&timeout=2"
  check "... and the manifest records that run's end" grep -q '"exit_code" : 74' "$WORK/dead/rel/manifest.json"
  check "ramceph's option errors reach a pipe, which ends" \
    fails 1 "ramceph: unknown option '--bogus'" bash -o pipefail -c "ceph/ramceph up --bogus --dir '$WORK/rc' 2>&1 | tee '$WORK/up.log' >&2"
}

case_parser_recursion
case_plan_bounds
case_data_sizes
case_model_metadata
case_not_files
case_baseline
case_kills
case_lock
case_provenance
case_environment
finish
