#!/usr/bin/env bash
# Lottery tickets for real: IMP rounds as sweep tasks on 1 and 2 ranks, a
# SIGKILL mid-sweep and the resume, prunesweep imp against the sweep's rounds,
# prunesweep lmc against a mid-point averaged by numpy. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

SWEEP=$PWD/Tests/imp/imp.toml
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
  OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1

TASKS=$("$BIN" plan "$SWEEP" | awk '/^total tasks:/ {print $3}' | tr -d ';')
JOURNAL=imp/results.jsonl

# every task once, all done
exactly_once() {
  python3 - "$1" "$TASKS" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
c = collections.Counter(r["task"] for r in rows)
ok = len(c) == int(sys.argv[2]) and max(c.values()) == 1 and all(r["status"] == "done" for r in rows)
if not ok: print(f"{len(c)} tasks of {sys.argv[2]}: {c.most_common(2)}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

lines() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }

wait_lines() {
  local file=$1 n=$2 deadline=$((SECONDS + 120))
  while [[ $(lines "$file") -lt $n ]]; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.1
  done
}

one_rank() { "$BIN" run "$SWEEP" --results "$WORK/one" 2>"$WORK/one.log"; }
check "IMP sweep completes on 1 rank" one_rank
check "every round once" exactly_once "$WORK/one/$JOURNAL"
metrics "$WORK/one/$JOURNAL" >"$WORK/m1"

# pruned entries after round k: round((1 - (1 - rate)^k) * prunable), computed here
per_round_sparsity() {
  python3 - "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    m = json.loads(line)["metrics"]
    want = int((1 - (1 - 0.3) ** m["round"]) * m["prunable"] + 0.5)
    assert m["pruned"] == want, (m["round"], m["variant"], m["pruned"], want)
    assert m["prunable"] == 61706, m["prunable"]   # every LeNet5 weight and bias
    n += 1
assert n > 0
PY
}
check "per-round sparsity is 1 - (1 - rate)^k to the entry" per_round_sparsity "$WORK/one/$JOURNAL"
check "IMP rounds record a barrier over 11 points, the controls none" python3 -c "
import json
for l in open('$WORK/one/$JOURNAL'):
    m = json.loads(l)['metrics']
    if m['variant'] == 'imp': assert len(m['path_errors']) == 11 and abs(m['barrier'] - (max(m['path_errors']) - (m['path_errors'][0] + m['path_errors'][-1]) / 2)) < 1e-12, m
    else: assert 'barrier' not in m, m"

# two ranks: the seeds' chains run side by side, with the same results
two_ranks() {
  timeout 600 mpirun -np 2 "$BIN" run "$SWEEP" --results "$WORK/two" 2>"$WORK/two.log" || return 1
  exactly_once "$WORK/two/$JOURNAL" || return 1
  python3 - "$WORK/two/$JOURNAL" <<'PY'
import json, sys
ranks = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["spec"]["round"] > 0: ranks.setdefault(r["rank"], set()).add(r["spec"]["dense"]["seed"])
assert set(ranks) == {0, 1}, ranks   # both ranks ran rounds after the first
PY
}
check "on 2 ranks both ranks run rounds" two_ranks
metrics "$WORK/two/$JOURNAL" >"$WORK/m2"
check "metrics on 2 ranks byte-identical to 1 rank" cmp -s "$WORK/m1" "$WORK/m2"

# SIGKILL in the middle of the rounds, then the same command again
kill_and_resume() {
  local dir=$WORK/k
  "$BIN" run "$SWEEP" --results "$dir" 2>"$WORK/k.log" &
  local pid=$!
  wait_lines "$dir/$JOURNAL" 4 || return 1
  [[ $(cat "/proc/$pid/comm") == prunesweep ]] && kill -KILL "$pid"
  wait "$pid" && return 1
  local before; before=$(lines "$dir/$JOURNAL")
  [[ $before -lt $TASKS ]] || return 1
  "$BIN" run "$SWEEP" --results "$dir" 2>>"$WORK/k.log" || return 1
  grep -q "$TASKS tasks, $before already done" "$WORK/k.log"
}
check "SIGKILL mid-round, then rerun, resumes at the killed round" kill_and_resume
check "after the kill every round is in the journal exactly once" exactly_once "$WORK/k/$JOURNAL"
metrics "$WORK/k/$JOURNAL" >"$WORK/mk"
check "resumed results equal an uninterrupted run" cmp -s "$WORK/m1" "$WORK/mk"

# the report: the ticket curves, the matching sparsity and the instability, in the terminal and the HTML page
report() {
  "$BIN" report "$WORK/one/imp" --out "$WORK/report" >"$WORK/report.log" || return 1
  grep -q "lottery tickets (test accuracy %" "$WORK/report.log" && grep -q "imp-reinit, rewind init" "$WORK/report.log" || return 1
  local id
  for id in plot-fashion-mnist-lenet5-tickets-accuracy plot-fashion-mnist-lenet5-tickets-instability \
    table-tickets-fashion-mnist-lenet5 table-matching-fashion-mnist-lenet5; do
    grep -q "id=\"$id\"" "$WORK/report/report.html" || return 1
  done
}
check "prunesweep report: ticket curves, matching sparsity and instability in the summary and the HTML" report

# prunesweep imp with the sweep's settings gives the sweep's IMP rounds (seed 0)
by_hand() {
  "$BIN" imp --arch lenet5 --rounds 3 --rate 0.3 --epochs 1 --seed 0 --train-subset 3000 --test-subset 500 --out "$WORK/hand" >"$WORK/hand.log" 2>/dev/null || return 1
  grep -q "round 3 epoch 1/1" "$WORK/hand.log" || return 1
  for k in 0 1 2 3; do [[ -f $WORK/hand/round-$k.safetensors ]] || return 1; done
  python3 - "$WORK/hand/rounds.csv" "$WORK/one/$JOURNAL" <<'PY'
import csv, json, sys
hand = {int(r["round"]): r for r in csv.DictReader(open(sys.argv[1]))}
swept = {}
for l in open(sys.argv[2]):
    r = json.loads(l)
    if r["spec"]["variant"] == "imp" and r["spec"]["dense"]["seed"] == 0: swept[r["spec"]["round"]] = r["metrics"]
assert sorted(hand) == sorted(swept) == [0, 1, 2, 3], (hand.keys(), swept.keys())
for k in hand:
    for f in ["accuracy", "loss", "cosine", "pruned"]:
        assert float(hand[k][f]) == float(swept[k][f]), (k, f, hand[k][f], swept[k][f])
PY
}
check "prunesweep imp writes rounds and rounds.csv equal to the sweep's IMP rounds" by_hand

# a model file as the initialisation: the untrained net of seed 0 gives the rounds of --arch with seed 0
from_model() {
  "$BIN" train --arch lenet5 --epochs 0 --seed 0 --out "$WORK/init.safetensors" >/dev/null 2>&1 || return 1
  "$BIN" imp "$WORK/init.safetensors" --rounds 1 --rate 0.3 --epochs 1 --seed 0 --train-subset 3000 --test-subset 500 --out "$WORK/file" >/dev/null 2>&1 || return 1
  cmp -s <(cut -d, -f1-7 "$WORK/file/rounds.csv") <(head -3 "$WORK/hand/rounds.csv" | cut -d, -f1-7) || return 1
  # and another initialisation gives other rounds
  "$BIN" train --arch lenet5 --epochs 0 --seed 5 --out "$WORK/init5.safetensors" >/dev/null 2>&1 || return 1
  "$BIN" imp "$WORK/init5.safetensors" --rounds 1 --rate 0.3 --epochs 1 --seed 0 --train-subset 3000 --test-subset 500 --out "$WORK/file5" >/dev/null 2>&1 || return 1
  ! cmp -s <(cut -d, -f1-7 "$WORK/file5/rounds.csv") <(head -3 "$WORK/hand/rounds.csv" | cut -d, -f1-7)
}
check "prunesweep imp MODEL starts from the model's weights" from_model

# lmc: a model with itself has barrier 0; between rounds 1 and 2 the mid-point
# equals numpy's average of the two files evaluated by prunesweep eval
lmc_self() { "$BIN" lmc "$WORK/hand/round-1.safetensors" "$WORK/hand/round-1.safetensors" --test-subset 500 | grep -q '^barrier 0.0000 %'; }
check "lmc of a model with itself: barrier 0" lmc_self
lmc_mid() {
  "$BIN" lmc "$WORK/hand/round-0.safetensors" "$WORK/hand/round-2.safetensors" --test-subset 500 --csv "$WORK/path.csv" >"$WORK/lmc.log" || return 1
  [[ $(wc -l <"$WORK/path.csv") -eq 12 ]] || return 1
  python3 - "$WORK/hand/round-0.safetensors" "$WORK/hand/round-2.safetensors" "$WORK/mid.safetensors" <<'PY' || return 1
import sys
from safetensors import safe_open
from safetensors.numpy import save_file
a, b = (safe_open(p, "numpy") for p in sys.argv[1:3])
mid = {k: ((a.get_tensor(k).astype("float64") + b.get_tensor(k).astype("float64")) / 2).astype("float32")
       for k in a.keys() if not k.endswith("_mask")}
save_file(mid, sys.argv[3], metadata=a.metadata())
PY
  local acc
  acc=$("$BIN" eval "$WORK/mid.safetensors" --test-subset 500 | sed -E 's/.*test accuracy ([0-9.]+) %.*/\1/')
  python3 - "$WORK/path.csv" "$acc" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
mid = [r for r in rows if float(r["alpha"]) == 0.5][0]
assert abs(float(mid["error"]) * 100 - (100 - float(sys.argv[2]))) < 1e-9, (mid, sys.argv[2])
PY
}
check "lmc mid-point equals numpy's average evaluated by prunesweep eval" lmc_mid

bad_input() {
  local status=0
  "$BIN" lmc "$WORK/hand/round-1.safetensors" "$WORK/nope.safetensors" 2>"$WORK/bad.log" && return 1
  grep -q "nope.safetensors" "$WORK/bad.log" || return 1
  "$BIN" train --arch mlp:8 --epochs 1 --train-subset 100 --out "$WORK/mlp.safetensors" >/dev/null 2>&1 || return 1
  "$BIN" lmc "$WORK/hand/round-1.safetensors" "$WORK/mlp.safetensors" --test-subset 100 2>"$WORK/bad.log" && return 1
  grep -q "the two models differ" "$WORK/bad.log" || return 1
  "$BIN" imp --rate 1.5 --out "$WORK/x" 2>"$WORK/bad.log" || status=$?
  [[ $status -ne 0 ]] && grep -q -- "--rate must be in (0, 1)" "$WORK/bad.log" && [[ ! -e $WORK/x ]] || return 1
  printf 'name = "b"\n[imp]\nrewind = "epoch:9"\n' >"$WORK/bad.toml"
  "$BIN" run "$WORK/bad.toml" --results "$WORK/b" 2>"$WORK/bad.log" && return 1
  grep -q "bad.toml:3: 'imp.rewind': epoch:9 is past the dense training of 2 epochs" "$WORK/bad.log"
}
check "bad input: a clear error naming the file or key, non-zero exit" bad_input

finish
