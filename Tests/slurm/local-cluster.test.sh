#!/usr/bin/env bash
# Integration suite for slurm/local-cluster: a real 2-node Slurm on this
# machine runs srun, sbatch, Open MPI over PMIx, and a USR1-driven requeue.
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
ROOT=${SELF%/Tests/slurm/*}
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$ROOT/Tests/lib.sh"
LC=$ROOT/slurm/local-cluster
PIDS=() # of our daemons, read from the pid files after up
WORK=$(mktemp -d) # shared by the "nodes": job scripts, outputs, MPI binary
DIR=$WORK/cluster
trap '"$LC" down --dir "$DIR" || true; rm -rf "$WORK"' EXIT
cd "$WORK"

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

job_state() { scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
job_is() { [[ $(job_state "$1") == "$2" ]]; }

# --- cases ----------------------------------------------------------------

up_fails_and_cleans_up_past_its_deadline() {
  local bad=$WORK/bad
  ! LOCAL_CLUSTER_TIMEOUT=0 "$LC" up --dir "$bad" 2>"$WORK/bad.err" &&
    grep -q 'not ready after 0s' "$WORK/bad.err" && [[ ! -e $bad ]]
}

up_two_nodes() {
  local t0
  t0=$(date +%s%N)
  "$LC" up --nodes 2 --dir "$DIR" >/dev/null || return 1
  echo "# figure: up to ready $(ms_since "$t0") ms"
  eval "$("$LC" env --dir "$DIR")"
  mapfile -t PIDS < <(cat "$DIR"/pid/*.pid)
}

second_up_refuses() { ! "$LC" up --dir "$DIR" 2>/dev/null; }

sinfo_shows_two_idle_nodes() {
  [[ $(sinfo -h -N -t idle -o %N | sort -u | paste -sd ' ') == "n1 n2" &&
    $("$LC" status --dir "$DIR") == *idle* ]]
}

srun_runs_on_both_nodes() {
  [[ $(timeout 30 srun -N2 -n2 printenv SLURMD_NODENAME | sort | paste -sd ' ') == "n1 n2" ]]
}

sbatch_job_completes() {
  local t0 id start
  t0=$(date +%s%N)
  id=$(sbatch --parsable --chdir "$WORK" -o batch.out <<<$'#!/bin/sh\ndate +%s%N\necho "on $SLURMD_NODENAME"') &&
    wait_for 20 job_is "$id" COMPLETED && grep -q '^on n[12]$' batch.out || return 1
  start=$(head -n1 batch.out)
  echo "# figure: sbatch submit-to-start $(((start - t0) / 1000000)) ms"
}

mpi_ranks_span_two_nodes() {
  cat >hello.c <<'C'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  printf("rank %d size %d node %s\n", rank, size, getenv("SLURMD_NODENAME"));
  MPI_Finalize();
  return 0;
}
C
  mpicc -o hello hello.c || return 1
  timeout 60 srun --mpi=pmix -N2 -n2 ./hello >mpi.out || return 1
  local n0 n1
  n0=$(sed -n 's/^rank 0 size 2 node //p' mpi.out)
  n1=$(sed -n 's/^rank 1 size 2 node //p' mpi.out)
  [[ -n $n0 && -n $n1 && $n0 != "$n1" ]]
}

# The trap turns USR1 into a requeue, as the sbatch templates will.
usr1_requeues_and_job_reruns() {
  cat >requeue.sh <<'SH'
#!/bin/bash
trap 'echo "usr1 restart=${SLURM_RESTART_COUNT:-0}"; scontrol requeue "$SLURM_JOB_ID"; exit 0' USR1
echo "start restart=${SLURM_RESTART_COUNT:-0}"
[[ ${SLURM_RESTART_COUNT:-0} -ge 1 ]] && exit 0
sleep 120 & wait
SH
  local id t0
  # --signal is only checked for acceptance here: Slurm sends it up to 30 s late
  id=$(sbatch --parsable --open-mode=append -o requeue.out --time=5 --signal=B:USR1@10 requeue.sh) &&
    wait_for 20 grep -qs 'start restart=0' requeue.out &&
    scancel --signal=USR1 --batch "$id" || return 1
  t0=$(date +%s%N)
  wait_for 40 job_is "$id" COMPLETED || return 1
  echo "# figure: USR1 to requeued job completed $(ms_since "$t0") ms"
  # slurmstepd may add its own "CANCELLED ... DUE TO JOB REQUEUE" line
  [[ $(grep -E '^(start|usr1) ' requeue.out | paste -sd ' ') == "start restart=0 usr1 restart=0 start restart=1" &&
    $(scontrol show job -o "$id") == *" Restarts=1 "* ]] || { sed 's/^/# /' requeue.out; return 1; }
}

# Every TCP/UDP socket our daemons listen on is bound to 127.0.0.1.
daemons_listen_on_loopback_only() {
  local pid addrs comm
  ((${#PIDS[@]} == 4)) || return 1
  for pid in "${PIDS[@]}"; do
    comm=$(cat "/proc/$pid/comm")
    addrs=$(ss -Hltunp | awk -v p="pid=$pid," 'index($0, p) { print $5 }')
    [[ $comm == munged || -n $addrs ]] || { echo "# $comm $pid listens nowhere"; return 1; }
    if [[ -n $addrs ]] && grep -qv '^127\.0\.0\.1:' <<<"$addrs"; then
      echo "# $comm $pid listens on: $addrs"
      return 1
    fi
  done
}

down_stops_ours_and_removes_dir() {
  local t0 pid comm state
  ((${#PIDS[@]} == 4)) || return 1
  t0=$(date +%s%N)
  "$LC" down --dir "$DIR" || return 1
  echo "# figure: down $(ms_since "$t0") ms"
  for pid in "${PIDS[@]}"; do
    read -r _ comm state _ 2>/dev/null <"/proc/$pid/stat" || continue
    if [[ $comm =~ ^\((munged|slurmctld|slurmd)\)$ && $state != Z ]]; then
      echo "# still running: $pid $comm"
      return 1
    fi
  done
  [[ ! -e $DIR ]] && "$LC" down --dir "$DIR"
}

shellcheck_clean() { shellcheck -x "$LC" "$SELF"; }

SECONDS=0
check "up fails and cleans up past its deadline" up_fails_and_cleans_up_past_its_deadline
check "up with 2 nodes" up_two_nodes
check "a second up refuses" second_up_refuses
check "sinfo shows 2 idle nodes" sinfo_shows_two_idle_nodes
check "srun -N2 runs on n1 and n2" srun_runs_on_both_nodes
check "sbatch job completes" sbatch_job_completes
check "srun --mpi=pmix ranks 0 and 1 on different nodes" mpi_ranks_span_two_nodes
check "USR1 via scancel --batch requeues; rerun has SLURM_RESTART_COUNT=1" usr1_requeues_and_job_reruns
check "daemons listen on 127.0.0.1 only" daemons_listen_on_loopback_only
check "down stops our daemons, removes the dir, is idempotent" down_stops_ours_and_removes_dir
check "shellcheck" shellcheck_clean
echo "# suite: ${SECONDS} s"
finish
