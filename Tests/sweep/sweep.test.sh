#!/usr/bin/env bash
# The sweep engine for real: one process, mpirun with 2 and 3 ranks, a rank
# killed with SIGKILL, a stop signal, failures. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

SWEEP=$PWD/Tests/sweep/tiny.toml
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
  OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1

TASKS=$("$BIN" plan "$SWEEP" | awk '/^total tasks:/ {print $3}' | tr -d ';')

# every task of the sweep exactly once in the journal, all done
exactly_once() {
  python3 - "$1" "$TASKS" <<'PY'
import json, sys, collections
c = collections.Counter(json.loads(l)["task"] for l in open(sys.argv[1]))
dupes = [t for t, n in c.items() if n > 1]
ok = len(c) == int(sys.argv[2]) and not dupes
if not ok: print(f"{len(c)} tasks of {sys.argv[2]}, duplicated: {dupes}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# PIDs of the prunesweep processes under a job we started (timeout -> mpirun -> ranks)
ranks_of() {
  local p
  for p in $(pgrep -P "$1") $(pgrep -P "$(pgrep -P "$1" | head -1)" 2>/dev/null); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == prunesweep ]] && echo "$p"
  done
}

lines() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }

# wait (bounded) until a journal has at least N lines
wait_lines() {
  local file=$1 n=$2 deadline=$((SECONDS + 120))
  while [[ $(lines "$file") -lt $n ]]; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.2
  done
}

run_ranks() {
  local n=$1
  if [[ $n -eq 1 ]]; then "$BIN" run "$SWEEP" --results "$WORK/r$n" 2>"$WORK/r$n.log"
  else timeout 600 mpirun -np "$n" "$BIN" run "$SWEEP" --results "$WORK/r$n" 2>"$WORK/r$n.log"; fi
}

for n in 1 2 3; do
  check "sweep completes on $n rank(s)" run_ranks "$n"
  check "every task once on $n rank(s)" exactly_once "$WORK/r$n/tiny/results.jsonl"
done
metrics "$WORK/r1/tiny/results.jsonl" > "$WORK/m1"
for n in 2 3; do
  metrics "$WORK/r$n/tiny/results.jsonl" > "$WORK/m$n"
  check "metrics on $n ranks byte-identical to 1 rank" cmp -s "$WORK/m1" "$WORK/m$n"
done
# The same for resnet20 (BatchNorm, crop-flip augmentation) on a small subset
RESNET=$PWD/Tests/sweep/resnet20-tiny.toml
resnet_ranks() {
  local n=$1 out=$WORK/rn$n
  if [[ $n -eq 1 ]]; then "$BIN" run "$RESNET" --results "$out" 2>"$out.log"
  else timeout 900 mpirun -np "$n" "$BIN" run "$RESNET" --results "$out" 2>"$out.log"; fi
  metrics "$out/resnet20-tiny/results.jsonl" >"$WORK/mrn$n"
  [[ -s $WORK/mrn$n ]] && ! grep -q '"failed"' "$WORK/mrn$n"
}
for n in 1 2 3; do
  check "resnet20 sweep completes on $n rank(s), no task failed" resnet_ranks "$n"
done
for n in 2 3; do
  check "resnet20 metrics on $n ranks byte-identical to 1 rank" cmp -s "$WORK/mrn1" "$WORK/mrn$n"
done
check "rerun of a finished sweep does nothing" "$BIN" run "$SWEEP" --results "$WORK/r1"
check "journal unchanged by the rerun" exactly_once "$WORK/r1/tiny/results.jsonl"
check "manifest records two runs" python3 -c "
import json; m = json.load(open('$WORK/r1/tiny/manifest.json'))
assert len(m['runs']) == 2 and m['runs'][0]['tasks']['done'] == $TASKS and m['sweep_hash'], m"

# A sweep parent and `prunesweep train` with the same settings are the same
# model: one training loop, one schedule (cosine by default, over 2 epochs here).
cat >"$WORK/same.toml" <<'TOML'
name = "same"
[data]
train_subset = 1000
test_subset = 500
[parent]
epochs = 2
[axes]
seeds = [1]
ratios = [0.5]
TOML
# same_tensors A B: equal tensors, equal metadata but for B's store provenance
same_tensors() {
  python3 - "$1" "$2" <<'PY2'
import sys
from safetensors import safe_open
a, b = (safe_open(p, "numpy") for p in sys.argv[1:])
assert sorted(a.keys()) == sorted(b.keys()), (a.keys(), b.keys())
for k in a.keys():
    assert a.get_tensor(k).tobytes() == b.get_tensor(k).tobytes(), k
provenance = {"sweep_hash", "tool_version", "checksum"}
ma = a.metadata(); mb = {k: v for k, v in b.metadata().items() if k not in provenance}
assert ma == mb, (ma, mb)
PY2
}
same_parent() {
  "$BIN" run "$WORK/same.toml" --results "$WORK/s" 2>"$WORK/s.log" || return 1
  "$BIN" train --arch lenet5 --epochs 2 --seed 1 --train-subset 1000 --test-subset 500 --out "$WORK/hand.safetensors" >/dev/null || return 1
  local id
  id=$(python3 -c "import sys; from safetensors import safe_open; print(safe_open(sys.argv[1], 'numpy').metadata()['task'])" "$WORK/hand.safetensors") || return 1
  "$BIN" store get "parent/$id" "$WORK/swept.safetensors" --store "file://$WORK/s/same/store" || return 1
  same_tensors "$WORK/hand.safetensors" "$WORK/swept.safetensors" || return 1
  # the check can fail: another schedule gives other tensors
  "$BIN" train --arch lenet5 --epochs 2 --seed 1 --train-subset 1000 --test-subset 500 --schedule constant --out "$WORK/constant.safetensors" >/dev/null || return 1
  ! same_tensors "$WORK/constant.safetensors" "$WORK/swept.safetensors" 2>/dev/null
}
check "a sweep parent and prunesweep train with the same settings: bit-identical tensors" same_parent

# Results of prunesweep 0.1.0 (a committed journal of this tiny sweep): run
# refuses to mix them with the cosine-trained parents of this version and says
# how to resume; with 0.1.0's constant rate it resumes them with nothing to do.
old_journal() {
  mkdir -p "$WORK/old/tiny"
  cp Tests/SweepTests/Fixtures/journal-v1/results.jsonl "$WORK/old/tiny/"
  local status=0
  "$BIN" run "$SWEEP" --results "$WORK/old" 2>"$WORK/old.log" || status=$?
  [[ $status -eq 2 ]] && grep -q 'written by prunesweep 0.1.0 (journal format 1)' "$WORK/old.log" \
    && grep -q 'schedule = "constant"' "$WORK/old.log" && [[ $(lines "$WORK/old/tiny/results.jsonl") -eq 14 ]] || return 1
  sed -e 's/^\[parent\]$/[parent]\nschedule = "constant"/' -e 's/^\[finetune\]$/[finetune]\nschedule = "constant"/' "$SWEEP" >"$WORK/constant.toml"
  "$BIN" run "$WORK/constant.toml" --results "$WORK/old" 2>"$WORK/old.log" \
    && grep -q '14 tasks, 14 already done' "$WORK/old.log" && [[ $(lines "$WORK/old/tiny/results.jsonl") -eq 14 ]]
}
check "a 0.1.0 journal: run names the version and the fix, then resumes it with constant schedules" old_journal

# SIGKILL one rank of two mid-sweep, then resume with the same command
kill_rank() {
  local dir=$WORK/k journal=$WORK/k/tiny/results.jsonl
  timeout 600 mpirun -np 2 "$BIN" run "$SWEEP" --results "$dir" 2>"$WORK/k.log" &
  local job=$!
  wait_lines "$journal" 4 || return 1
  local victim
  victim=$(ranks_of "$job" | tail -1)
  [[ -n $victim ]] || return 1
  kill -KILL "$victim"
  wait "$job" && return 1   # the job must not report success
  local before; before=$(lines "$journal")
  [[ $before -lt $TASKS ]] || return 1
  timeout 600 mpirun -np 2 "$BIN" run "$SWEEP" --results "$dir" 2>>"$WORK/k.log"
}
check "SIGKILL of a rank, then rerun, completes" kill_rank
check "after the kill every task is in the journal exactly once" exactly_once "$WORK/k/tiny/results.jsonl"
metrics "$WORK/k/tiny/results.jsonl" > "$WORK/mk"
check "resumed results equal an uninterrupted run" cmp -s "$WORK/m1" "$WORK/mk"

# SIGTERM: finish the running task, exit 75, resume to completion
stop_and_resume() {
  local journal=$WORK/t/tiny/results.jsonl status=0
  "$BIN" run "$SWEEP" --results "$WORK/t" --grace 60 2>"$WORK/t.log" &
  local pid=$!
  wait_lines "$journal" 3 || return 1
  [[ $(cat "/proc/$pid/comm") == prunesweep ]] && kill -TERM "$pid"
  wait "$pid" || status=$?
  [[ $status -eq 75 ]] || { echo "exit status $status, expected 75" >&2; return 1; }
  [[ $(lines "$journal") -lt $TASKS ]] || return 1
  # the store dies with the job (a RAM store): the rerun must recompute what it needs
  rm -rf "$WORK/t/tiny/store"
  "$BIN" run "$SWEEP" --results "$WORK/t" 2>>"$WORK/t.log"
}
check "SIGTERM exits 75 (requeue me) and a rerun finishes" stop_and_resume
check "after the stop every task is in the journal exactly once" exactly_once "$WORK/t/tiny/results.jsonl"
metrics "$WORK/t/tiny/results.jsonl" > "$WORK/mt"
check "tensors lost with the store are recomputed to the same results" cmp -s "$WORK/m1" "$WORK/mt"

# A diverging parent fails; its trials are skipped; the rest of the sweep runs
sed -e 's/^name = "tiny"/name = "diverge"/' -e 's/^seeds = \[0, 1\]/seeds = [0]\n"parent.lr" = [0.05, 1e9]/' "$SWEEP" > "$WORK/diverge.toml"
diverge() {
  local status=0
  "$BIN" run "$WORK/diverge.toml" --results "$WORK/d" 2>"$WORK/d.log" || status=$?
  [[ $status -eq 1 ]] || { echo "exit status $status, expected 1" >&2; return 1; }
  python3 - "$WORK/d/diverge/results.jsonl" <<'PY'
import json, sys, collections
rs = [json.loads(l) for l in open(sys.argv[1])]
c = collections.Counter((r["kind"], r["status"]) for r in rs)
assert c == {("parent", "done"): 1, ("parent", "failed"): 1, ("trial", "done"): 6, ("trial", "skipped"): 6}, c
assert any("diverged" in (r.get("error") or "") for r in rs), "the failure says why"
PY
}
check "a failing task is contained: exit 1, dependents skipped, others done" diverge
max_failures() {
  local status=0
  "$BIN" run "$WORK/diverge.toml" --results "$WORK/mf" --max-failures 1 2>"$WORK/mf.log" || status=$?
  [[ $status -eq 1 ]] && [[ $(lines "$WORK/mf/diverge/results.jsonl") -lt 14 ]]
}
check "--max-failures stops early" max_failures
bad_input() {
  printf 'name = "x"\n[parent]\nepochs = "two"\n' > "$WORK/bad.toml"
  local status=0
  "$BIN" run "$WORK/bad.toml" --results "$WORK/b" 2>"$WORK/b.log" || status=$?
  [[ $status -eq 2 ]] && grep -q "bad.toml:3: 'parent.epochs'" "$WORK/b.log" && [[ ! -e $WORK/b ]]
}
check "a bad sweep file: exit 2, names line and key, writes nothing" bad_input
finish
