#!/usr/bin/env bash
# Integration suite for slurm/prunesweep.sbatch and slurm/prunesweep-array.sbatch
# on a real 2-node Slurm on this machine (slurm/local-cluster): ramceph across
# both nodes, a sweep through the template to completion, a USR1 stop that
# requeues and resumes, a scancel that still tears the store down everywhere,
# and the job array with its dependent report job. Nothing may be left behind.
# shellcheck disable=SC2015 # "checks && ... || { show the log; return 1; }" is meant
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=${SELF%/Tests/slurm/*}
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$ROOT/Tests/lib.sh"
LC=$ROOT/slurm/local-cluster
RAMCEPH=${RAMCEPH_BIN:-$ROOT/ceph/ramceph}
TEMPLATE=$ROOT/slurm/prunesweep.sbatch
ARRAY=$ROOT/slurm/prunesweep-array.sbatch
SWEEP=$ROOT/Tests/slurm/sweep.toml
NAME=slurm-test
PRUNESWEEP=$BIN
WORK=$(mktemp -d /tmp/prunesweep-slurm-test.XXXXXX) # shared by the "nodes"
DIR=$WORK/cluster
NODES=(n1 n2)

# Always: cancel jobs and stop Slurm, then remove any ramceph deployment a
# killed job left, node by node (every emulated node is this host).
cleanup() {
  local d n
  "$LC" down --dir "$DIR" >/dev/null 2>&1 || true
  for d in "$WORK"/rc-*; do
    [[ -f $d/ramceph.state ]] || continue
    for n in "${NODES[@]}"; do "$RAMCEPH" node-down --dir "$d" --node "$n" >/dev/null 2>&1 || true; done
    "$RAMCEPH" down --dir "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # so that cleanup runs when `timeout` stops the suite
cd "$WORK"

job_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# job_ends ID STATE SECS: wait until the job ends; succeed if it ended in STATE.
job_ends() {
  local id=$1 want=$2 s
  wait_for "$3" job_final "$id" || { echo "# job $id still $(job_state "$id") after $3 s"; return 1; }
  s=$(job_state "$id")
  [[ $s == "$want" ]] || { echo "# job $id ended $s, not $want"; return 1; }
}
job_final() { [[ $(job_state "$1") =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$ ]]; }
lines() { cat "$@" 2>/dev/null | wc -l; }
has_lines() { (($(lines "$1") >= $2)); } # FILE N
show_log() { grep -v ' info prunesweep: ' "$1" | tail -n "${2:-25}" | sed 's/^/# | /'; }
epoch() { date -d "$1" +%s; }

# submit TAG VAR=VALUE...: the template with this test's settings; prints the job id.
submit() {
  local tag=$1; shift
  local exports=ALL,SWEEP=$SWEEP,RESULTS=$WORK/res-$tag,PRUNESWEEP=$PRUNESWEEP,RAMCEPH=$RAMCEPH
  exports+=",RAMCEPH_DIR=$WORK/rc-$tag,RAMCEPH_OPTS=--address 127.0.0.1 --osd-size 1G"
  local kv
  for kv in "$@"; do exports+=",$kv"; done
  sbatch --parsable --chdir "$WORK" -o "$WORK/$tag.out" --export="$exports" "$TEMPLATE"
}

fsid_of() { sed -n 's/^declare -[a-z]* FSID="\(.*\)"$/\1/p' "$1/ramceph.state"; }

# Records what a template job's ramceph deploys (fsid, daemon PIDs) once its
# store is up, to check afterwards that all of it is gone.
record_deployment() {
  local tag=$1 f
  wait_for 90 test -e "$WORK/rc-$tag/env" || return 1
  fsid_of "$WORK/rc-$tag" >"$WORK/$tag.fsid"
  for f in "$WORK/rc-$tag"/run/*.pid; do cat "$f"; done >"$WORK/$tag.pids" 2>/dev/null
  [[ -s $WORK/$tag.fsid && $(lines "$WORK/$tag.pids") -ge 3 ]] # mon, mgr, OSDs
}

# Nothing of deployment TAG is left: state dir, daemons, RAM files, processes.
nothing_left() {
  local tag=$1 pid comm fsid left
  fsid=$(cat "$WORK/$tag.fsid")
  [[ -n $fsid ]] || return 1
  wait_for 10 test ! -e "$WORK/rc-$tag" || { echo "# state dir left: $WORK/rc-$tag"; return 1; }
  while read -r pid; do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    [[ $comm == ceph-* ]] && { echo "# still running: $pid $comm"; return 1; }
  done <"$WORK/$tag.pids"
  if compgen -G "/dev/shm/ramceph.$fsid.*" >/dev/null; then
    echo "# RAM files left: $(echo /dev/shm/ramceph."$fsid".*)"
    return 1
  fi
  left=$(pgrep -af -- "$WORK/(rc|res)-$tag" || true)
  [[ -z $left ]] || { echo "# processes left:"; printf '#   %s\n' "$left"; return 1; }
}

# Every task of the sweep exactly once in JOURNAL, all done.
journal_complete() {
  local journal=$1 total dups
  total=$("$PRUNESWEEP" plan "$SWEEP" --show 0 | sed -n 's/^total tasks: \([0-9]*\);.*/\1/p')
  dups=$(grep -o '"task":"[^"]*"' "$journal" | sort | uniq -d)
  [[ -z $dups ]] || { echo "# tasks more than once: $dups"; return 1; }
  [[ $(lines "$journal") == "$total" && $(grep -c '"status":"done"' "$journal") == "$total" ]] ||
    { echo "# $(lines "$journal") lines, $(grep -c '"status":"done"' "$journal") done, want $total"; return 1; }
}

# --- cases ----------------------------------------------------------------

shellcheck_clean() { shellcheck -x "$TEMPLATE" "$ARRAY" "$SELF"; }

binary_runs() {
  [[ -x $PRUNESWEEP ]] || { echo "# no prunesweep binary at $PRUNESWEEP (make release)"; return 1; }
  "$PRUNESWEEP" run --help >/dev/null && "$PRUNESWEEP" store ls --help >/dev/null
}

array_refuses_bad_shard() {
  local out
  out=$(SLURM_ARRAY_TASK_ID=1 SHARD_OFFSET=2 SHARDS=3 SWEEP=$SWEEP PRUNESWEEP=$PRUNESWEEP bash "$ARRAY" 2>&1)
  [[ $? == 2 && $out == *"shard 3 is outside 0..2"* ]]
}

cluster_up() {
  "$LC" up --nodes 2 --dir "$DIR" >/dev/null || return 1
  eval "$("$LC" env --dir "$DIR")"
  # Emulated nodes share one host and its /dev/shm: Open MPI's shared-memory
  # transport would mix up ranks of "different" nodes. Real nodes keep vader.
  export OMPI_MCA_btl=self,tcp
}

# ramceph up in an sbatch -N2 job: one OSD per node, I/O, down.
ramceph_two_nodes() {
  cat >multi.sh <<EOF
#!/bin/bash
set -e
"$RAMCEPH" up --dir "$WORK/rc-multi" --address 127.0.0.1 --osd-size 1G
ceph --conf "$WORK/rc-multi/ceph.conf" --name client.admin osd tree >"$WORK/multi.tree"
sed -n 's/^declare -[a-z]* FSID="\(.*\)"\$/\1/p' "$WORK/rc-multi/ramceph.state" >"$WORK/multi.fsid"
cat "$WORK"/rc-multi/run/*.pid >"$WORK/multi.pids"
ls /dev/shm >"$WORK/multi.shm"
source "$WORK/rc-multi/env"
head -c 3000000 /dev/urandom >"$WORK/multi.obj"
rados -p "\$RAMCEPH_POOL" put obj "$WORK/multi.obj"
rados -p "\$RAMCEPH_POOL" get obj "$WORK/multi.back"
"$RAMCEPH" down --dir "$WORK/rc-multi"
EOF
  local id fsid
  id=$(sbatch --parsable -N2 --chdir "$WORK" -o multi.out multi.sh) &&
    job_ends "$id" COMPLETED 120 || { show_log multi.out; return 1; }
  fsid=$(cat multi.fsid)
  # OSDs on hosts n1 and n2, both up; each node had its own RAM directory
  grep -Eq '^ *-[0-9]+ .* host n1 *$' multi.tree && grep -Eq '^ *-[0-9]+ .* host n2 *$' multi.tree &&
    [[ $(grep -c ' osd\.[0-9]* *up ' multi.tree) == 2 ]] &&
    grep -qx "ramceph.$fsid.n1" multi.shm && grep -qx "ramceph.$fsid.n2" multi.shm &&
    cmp -s multi.obj multi.back || { sed 's/^/# /' multi.tree; return 1; }
  nothing_left multi
}

T_SUBMIT=0
template_completes() {
  local id
  T_SUBMIT=$(date +%s)
  id=$(submit full PERSIST_PREFIXES=parent/,PERSIST_DIR="$WORK/persist") || return 1
  record_deployment full || { show_log full.out; return 1; }
  job_ends "$id" COMPLETED 180 || { show_log full.out; return 1; }
  grep -q 'sweep exited with status 0' full.out && grep -q 'ramceph down took' full.out &&
    journal_complete "$WORK/res-full/$NAME/results.jsonl" || { show_log full.out; return 1; }
}

template_figures() {
  local first up
  first=$(grep -m1 " \[Sweep\] sweep $NAME: " full.out | cut -c1-19) || return 1
  up=$(sed -n 's/.*ramceph up took \([0-9.]*\) s.*/\1/p' full.out)
  echo "# figure: sbatch to first task running $(($(epoch "${first/T/ }") - T_SUBMIT)) s, of which ramceph up $up s"
  echo "# figure: $(grep -E 'sweep exited|ramceph down took' full.out | sed 's/^.*prunesweep.sbatch: //' | paste -sd ';')"
}

persisted_parents() {
  [[ $(find "$WORK/persist/parent" -name '*.safetensors' | wc -l) == 4 ]] &&
    "$PRUNESWEEP" store verify --store "file://$WORK/persist" >/dev/null
}

# USR1 mid-run: clean stop, store down, requeue, the rerun pre-loads the
# persisted parents and resumes from the journal.
usr1_requeues_and_resumes() {
  local id journal=$WORK/res-usr1/$NAME/results.jsonl
  id=$(submit usr1 PERSIST_PREFIXES=parent/,PERSIST_DIR="$WORK/persist-usr1") || return 1
  record_deployment usr1 || { show_log usr1.out; return 1; }
  # the ready marker: tasks are finishing, so every rank has its handlers set
  wait_for 60 has_lines "$journal" 1 || { show_log usr1.out; return 1; }
  scancel --signal=USR1 --batch "$id" || return 1
  echo "# stopped after $(lines "$journal") journal lines"
  job_ends "$id" COMPLETED 240 || { show_log usr1.out 40; return 1; }
  grep -q 'USR1: stopping the sweep' usr1.out && grep -q 'sweep exited with status 75' usr1.out &&
    grep -q 'requeueing job' usr1.out && grep -q "job $id restart 1 " usr1.out &&
    grep -Eq 'preload: put [1-9][0-9]* object' usr1.out &&
    grep -Eq "sweep $NAME: [0-9]+ tasks, [1-9][0-9]* already done" usr1.out &&
    [[ $(scontrol show job -o "$id") == *" Restarts=1 "* ]] &&
    journal_complete "$journal" || { show_log usr1.out 40; return 1; }
}

# scancel (TERM) mid-run: no requeue, and the store is still removed on both
# nodes (the guard step cleans the node the batch script can no longer reach).
scancel_tears_down() {
  local id journal=$WORK/res-term/$NAME/results.jsonl
  id=$(submit term) || return 1
  record_deployment term || { show_log term.out; return 1; }
  wait_for 60 has_lines "$journal" 1 || { show_log term.out; return 1; }
  scancel "$id" || return 1
  job_ends "$id" CANCELLED 60 || return 1
  grep -q 'TERM: stopping the sweep, no requeue' term.out || { show_log term.out; return 1; }
}

# Three shards as two arrays (indices 0-1, then 0 with SHARD_OFFSET=2), as a
# site with a small MaxArraySize would, and a dependent report job.
array_completes_and_merges() {
  local a b r common dir=$WORK/res-array/$NAME have_report=0 report
  common=ALL,SWEEP=$SWEEP,RESULTS=$WORK/res-array,PRUNESWEEP=$PRUNESWEEP,SHARDS=3
  a=$(sbatch --parsable --chdir "$WORK" -o "$WORK/array-%A_%a.out" --array=0-1 \
    --export="$common,SHARD_OFFSET=0" "$ARRAY") &&
    b=$(sbatch --parsable --chdir "$WORK" -o "$WORK/array-%A_%a.out" --array=0 \
      --export="$common,SHARD_OFFSET=2" "$ARRAY") || return 1
  if "$PRUNESWEEP" report --help 2>&1 | grep -q 'USAGE: prunesweep report'; then
    have_report=1
    report="$PRUNESWEEP report $dir"
  else
    report="echo no prunesweep report yet"
  fi
  r=$(sbatch --parsable --chdir "$WORK" -o "$WORK/report.out" --dependency="afterok:$a:$b" --wrap "$report") || return 1
  job_ends "$r" COMPLETED 240 || { tail -n 5 "$WORK"/array-*.out | sed 's/^/# /'; return 1; }
  # the shard journals together hold every trial exactly once, every task done
  local trials all dups
  trials=$("$PRUNESWEEP" plan "$SWEEP" --show 0 | sed -n 's/^trial tasks: //p')
  all=$(cat "$dir"/results.shard-{0,1,2}-of-3.jsonl) || return 1
  dups=$(grep '"kind":"trial"' <<<"$all" | grep -o '"task":"[^"]*"' | sort | uniq -d)
  [[ -z $dups && $(grep -c '"kind":"trial"' <<<"$all") == "$trials" &&
    $(grep -o '"task":"parent-[^"]*"' <<<"$all" | sort -u | wc -l) == 4 &&
    $(grep -vc '"status":"done"' <<<"$all") == 0 ]] || { echo "# shards: $(wc -l "$dir"/results.shard-*)"; return 1; }
  ((have_report == 0)) && { echo "# prunesweep report not available: merge checked by hand only"; return 0; }
  [[ -s $dir/report.md ]] || { sed 's/^/# /' "$WORK/report.out"; return 1; }
}

cluster_down() { "$LC" down --dir "$DIR" && [[ ! -e $DIR ]]; }

SECONDS=0
check "shellcheck templates and this test" shellcheck_clean
check "prunesweep binary has run and store" binary_runs
check "array template refuses a shard past SHARDS" array_refuses_bad_shard
check "local Slurm with 2 nodes up" cluster_up
check "ramceph in an sbatch -N2 job: OSDs on hosts n1 and n2, I/O, down" ramceph_two_nodes
check "template: sweep on 2 nodes with ramceph completes, every task once" template_completes
template_figures || true
check "template: nothing left of the store (processes, RAM files, state)" nothing_left full
check "template: persisted parent/ objects to PERSIST_DIR, verified" persisted_parents
check "template: USR1 stops, requeues, rerun preloads and resumes, every task once" usr1_requeues_and_resumes
check "template: nothing left after the requeued job" nothing_left usr1
check "template: scancel stops without requeue" scancel_tears_down
check "template: nothing left on either node after scancel" nothing_left term
check "array: 3 shards as 2 arrays + dependent report job" array_completes_and_merges
check "local Slurm down" cluster_down
echo "# suite: ${SECONDS} s"
finish
