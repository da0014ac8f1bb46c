#!/usr/bin/env bash
# ramceph end to end on loopback: deploy with 1 and 3 OSDs, I/O through the
# job's key, pool isolation, two deployments side by side, a killed OSD, a
# missed deadline, the zram/loop backends, the srun path (stub srun with two
# emulated nodes), and nothing left behind by 'down'.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RAMCEPH=$ROOT/ceph/ramceph
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "$ROOT/Tests/lib.sh"

T=$(mktemp -d /tmp/ramceph-test.XXXXXX)
cleanup() {
  local d
  for d in "$T"/d-*; do
    [[ -f $d/ramceph.state ]] && "$RAMCEPH" down --dir "$d" >/dev/null 2>&1
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap "exit 130" INT TERM
touch "$T/start"
t0=$SECONDS

# up NAME ARGS...: deploy into $T/d-NAME with 1 GiB OSDs; stderr to $T/NAME.err
up() {
  local name=$1
  shift
  "$RAMCEPH" up --dir "$T/d-$name" --osd-size 1G "$@" 2>"$T/$name.err" ||
    { sed 's/^/  | /' "$T/$name.err"; return 1; }
}
# shellcheck source=/dev/null
state() { (source "$T/d-$1/ramceph.state" && echo "${!2}") || true; }
adm() { local d=$T/d-$1; shift; timeout 30 ceph --conf "$d/ceph.conf" --name client.admin "$@"; }
# shellcheck source=/dev/null
as_job() { local d=$T/d-$1; shift; (source "$d/env" && timeout 30 "$@"); }
pids_of() { pgrep -f -- "--conf $T/d-$1/ceph.conf" || true; }

# put, get and ls as the job, with only what the env file gives
roundtrip() {
  head -c 1048576 /dev/urandom >"$T/obj"
  (
    # shellcheck source=/dev/null
    source "$T/d-$1/env"
    rados -p "$RAMCEPH_POOL" --id "$CEPH_CLIENT_ID" put obj1 "$T/obj" &&
      rados -p "$RAMCEPH_POOL" --id "$CEPH_CLIENT_ID" get obj1 "$T/obj.back" &&
      rados -p "$RAMCEPH_POOL" --id "$CEPH_CLIENT_ID" ls | grep -qx obj1
  ) && cmp -s "$T/obj" "$T/obj.back"
}

helps() { "$RAMCEPH" "$1" --help | grep -q "^usage: ramceph $1"; }

brd_refused() {
  local out
  ! out=$("$RAMCEPH" up --dir "$T/d-brd" --backend brd 2>&1) && grep -q "brd kernel module" <<<"$out" &&
    grep -q "use --backend" <<<"$out" && [[ ! -e $T/d-brd ]]
}

refuses_foreign_dir() {
  mkdir "$T/notours" && touch "$T/notours/precious" &&
    ! "$RAMCEPH" down --dir "$T/notours" 2>/dev/null && [[ -e $T/notours/precious ]]
}

env_has_store() {
  "$RAMCEPH" env --dir "$T/d-a" | grep -qF "export PRUNESWEEP_STORE=\"rados://prunesweep?conf=$T/d-a/ceph.conf&id=job\""
}

bench_prints() { "$RAMCEPH" bench --dir "$T/d-a" --seconds 2 | grep -Eq "write_MBps=[0-9.]+ read_MBps=[0-9.]+"; }

status_healthy() { "$RAMCEPH" status --dir "$T/d-b" | grep -q "osd.2 running"; }

# An OSD that never boots: a ceph-osd that does its mkfs but then starts nothing.
late_up_fails() {
  mkdir -p "$T/deadbin"
  cat >"$T/deadbin/ceph-osd" <<'EOF'
#!/bin/sh
case " $* " in *" --mkfs "*) PATH=${PATH#*:} exec ceph-osd "$@" ;; esac
EOF
  chmod +x "$T/deadbin/ceph-osd"
  ! PATH="$T/deadbin:$PATH" "$RAMCEPH" up --dir "$T/d-late" --osd-size 1G --timeout 5 2>"$T/late.err" &&
    grep -q "timed out after 5s waiting for every OSD up" "$T/late.err" &&
    grep -q "^--- tail of .*/osd.0.log" "$T/late.err" && [[ ! -e $T/d-late ]]
}

two_hosts() {
  local tree
  tree=$(adm s osd tree) && grep -q "host n1" <<<"$tree" && grep -q "host n2" <<<"$tree" &&
    [[ $(grep -c " up " <<<"$tree") == 2 ]]
}

# mkfs_window NAME ID: when osd.ID's mkfs started and ended (epoch seconds),
# from the first line of its log and its "mkfs success" line.
mkfs_window() {
  local log=$T/d-$1/log/osd.$2.log
  date -d "$(head -n 1 "$log" | cut -d' ' -f1)" +%s.%N
  date -d "$(grep -m1 'mkfs success' "$log" | cut -d' ' -f1)" +%s.%N
}
# Every node's OSD is made at the same time: the mkfs windows overlap.
mkfs_parallel() {
  local a b
  a=$(mkfs_window "$1" 0 | paste -sd ' ') b=$(mkfs_window "$1" 1 | paste -sd ' ')
  echo "# mkfs windows: osd.0 (n1) $a, osd.1 (n2) $b"
  echo "$a $b" | awk '{s = ($1 > $3 ? $1 : $3); e = ($2 < $4 ? $2 : $4); exit !(s < e)}'
}

ended() { for _ in {1..50}; do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

# nothing of deployment NAME (fsid F) is left: process, file or device
gone() {
  local name=$1 fsid=$2
  [[ ! -e $T/d-$name ]] || { echo "  state dir left"; return 1; }
  [[ -z $(pids_of "$name") ]] || { echo "  processes left: $(pids_of "$name")"; return 1; }
  ! compgen -G "/dev/shm/ramceph.$fsid.*" >/dev/null || { echo "  RAM dir left"; return 1; }
  ! losetup -a 2>/dev/null | grep -q "ramceph.$fsid" || { echo "  loop device left"; return 1; }
}

only_loopback() {
  local p bad
  for p in $(pids_of "$1"); do
    bad=$(ss -Hltnp | grep "pid=$p," | awk '$4 !~ /^127\.0\.0\.1:/') || true
    [[ -z $bad ]] || { echo "  $bad"; return 1; }
    ss -Hltnp | grep -q "pid=$p," || { echo "  pid $p listens nowhere: $(tr '\0' ' ' <"/proc/$p/cmdline")"; return 1; }
  done
}

private_keys() {
  local d=$T/d-$1 f
  [[ $(stat -c %a "$d") == 700 && $(stat -c %a "$d/keys") == 700 ]] || return 1
  for f in "$d"/keys/*; do [[ $(stat -c %a "$f") == 600 ]] || return 1; done
}

transient_settings() {
  local dump
  dump=$(adm "$1" osd dump)
  grep -q '^flags noout,noscrub,nodeep-scrub' <<<"$dump" &&
    grep -q "'prunesweep' replicated size 1 min_size 1 " <<<"$dump" &&
    [[ $(adm "$1" config show osd.0 osd_memory_target) == 939524096 ]] # 896 MiB floor for 1 GiB
}

other_pool_denied() {
  adm "$1" osd pool create other 8 >/dev/null 2>&1
  adm "$1" osd pool ls | grep -qx other || return 1
  ! as_job "$1" rados -p other --id job put x "$T/obj" 2>/dev/null &&
    ! as_job "$1" rados -p other --id job ls 2>/dev/null &&
    ! as_job "$1" ceph --id job osd pool create sneaky 8 2>/dev/null
}

nothing_system_wide() {
  [[ -z $(find /etc/ceph /var/lib/ceph /var/log/ceph -newer "$T/start" 2>/dev/null | head -1) ]]
}

status_reports_dead_osd() {
  local pid out
  pid=$(cat "$T/d-$1/run/osd.1.pid")
  [[ $(cat "/proc/$pid/comm") == ceph-osd ]] && kill -KILL "$pid"
  sleep 0.5
  ! out=$("$RAMCEPH" status --dir "$T/d-$1" 2>&1) || return 1
  grep -q 'osd.1 NOT RUNNING' <<<"$out" || return 1
  # and Ceph itself notices within its heartbeat grace
  for _ in {1..40}; do
    out=$("$RAMCEPH" status --dir "$T/d-$1" 2>&1) || true
    grep -q '1 osds down' <<<"$out" && grep -Eq 'osd\.1 +down' <<<"$out" && return 0
    sleep 1
  done
  echo "$out" | head -20
  return 1
}

echo "# static checks"
lint() { (cd "$ROOT" && shellcheck -x ceph/ramceph bench/ramceph-bench Tests/ceph/ramceph.test.sh); }
check "shellcheck ramceph and this test" lint
for c in up down status env bench node-up node-down; do
  check "$c --help" helps "$c"
done
if [[ -d /sys/module/brd ]] || modprobe -n brd 2>/dev/null; then
  echo "# brd exists here: the unavailable-backend check is skipped"
else
  check "brd fails at once, says why and what to use" brd_refused
fi
check "down refuses a directory that is not a deployment" refuses_foreign_dir

echo "# one OSD"
printf '# a host file\n%s slots=2\n' "$(hostname -s)" >"$T/hosts"
check "up with 1 OSD (nodes from a host file)" up a --osds-per-node 1 --hostfile "$T/hosts"
fa=$(state a FSID)
check "client key writes and reads through the env file" roundtrip a
check "env prints the store URL" env_has_store
check "keys are private (0600 in a 0700 dir)" private_keys a
check "daemons listen on 127.0.0.1 only" only_loopback a
check "transient settings: size 1, noout, no scrub, memory target" transient_settings a
check "client key cannot touch another pool" other_pool_denied a
check "bench prints MB/s" bench_prints

echo "# three OSDs, side by side with the first"
check "up with 3 OSDs while the first runs (--nodes, --interface lo)" up b --osds-per-node 3 --nodes "$(hostname -s)" --interface lo
fb=$(state b FSID)
check "each deployment has its own port" test "$(state a PORT)" != "$(state b PORT)"
check "second deployment does I/O" roundtrip b
check "first deployment still does I/O" roundtrip a
check "status is healthy with 3 OSDs up" status_healthy
check "status reports a killed OSD" status_reports_dead_osd b

echo "# a missed deadline"
check "up past its deadline fails, shows the log, removes itself" late_up_fails
check "nothing left after the failed up" gone late ""

if [[ -w /sys/class/zram-control/hot_add && -w /dev/loop-control ]]; then
  echo "# zram and loop backends, deployed at the same time"
  up z --backend zram &
  zp=$!
  up l --backend loop &
  lp=$!
  check "up with zram" wait $zp
  check "up with loop" wait $lp
  zdev=$(cut -d' ' -f2 "$T/d-z/run/osd.0.dev") fz=$(state z FSID) fl=$(state l FSID)
  check "zram OSD does I/O" roundtrip z
  check "loop OSD does I/O" roundtrip l
  check "down zram" "$RAMCEPH" down --dir "$T/d-z"
  check "down loop" "$RAMCEPH" down --dir "$T/d-l"
  check "zram device released" test ! -e "/sys/block/zram$zdev"
  check "nothing left of zram" gone z "$fz"
  check "nothing left of loop" gone l "$fl"
fi

echo "# srun path: two emulated nodes"
mkdir "$T/bin"
cat >"$T/bin/srun" <<'EOF'
#!/usr/bin/env bash
# Stand-in for srun: one task per --nodelist node, with SLURMD_NODENAME set.
nodes=
while [[ $1 == -* ]]; do [[ $1 == --nodelist=* ]] && nodes=${1#*=}; shift; done
pids=()
for n in ${nodes//,/ }; do SLURMD_NODENAME=$n "$@" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
EOF
cat >"$T/bin/scontrol" <<'EOF'
#!/usr/bin/env bash
[[ "$1 $2 $3" == "show hostnames n[1-2]" ]] && printf 'n1\nn2\n'
EOF
chmod +x "$T/bin/srun" "$T/bin/scontrol"
up_srun() { PATH="$T/bin:$PATH" SLURM_JOB_ID=4242 SLURM_JOB_NODELIST='n[1-2]' SLURMD_NODENAME=n1 up s --address 127.0.0.1; }
check "up on n[1-2] through srun" up_srun
fs=$(state s FSID)
launcher=$(cat "$T/d-s/run/launcher.pid")
check "one OSD per emulated node in the CRUSH map" two_hosts
check "both nodes' OSDs made at the same time" mkfs_parallel s
check "srun step holds the remote OSD" kill -0 "$launcher"
check "I/O across both nodes" roundtrip s
check "down through srun" env PATH="$T/bin:$PATH" SLURM_JOB_ID=4242 "$RAMCEPH" down --dir "$T/d-s"
check "holding step ended" ended "$launcher"
check "nothing left of the srun deployment" gone s "$fs"

# n2's OSD never starts: 'up' notices the srun step ending and removes everything
srun_partial_fails() {
  cat >"$T/bin/ceph-osd" <<'EOF'
#!/bin/sh
[ "$SLURMD_NODENAME" = n2 ] && case " $* " in *" --mkfs "*) ;; *) exit 0 ;; esac
PATH=${PATH#*:} exec ceph-osd "$@"
EOF
  chmod +x "$T/bin/ceph-osd"
  ! PATH="$T/bin:$PATH" SLURM_JOB_ID=4242 SLURM_JOB_NODELIST='n[1-2]' "$RAMCEPH" up --dir "$T/d-p" \
    --osd-size 1G --address 127.0.0.1 2>"$T/p.err" && grep -q "srun step .* ended early" "$T/p.err" &&
    grep -q "up failed; removing" "$T/p.err"
}
check "a node whose OSD never starts fails 'up' and is cleaned up" srun_partial_fails
check "nothing left of the partial srun deployment" gone p ""

echo "# down"
check "down 1-OSD deployment" "$RAMCEPH" down --dir "$T/d-a"
check "down 3-OSD deployment (one OSD dead)" "$RAMCEPH" down --dir "$T/d-b"
check "nothing left of the 1-OSD deployment" gone a "$fa"
check "nothing left of the 3-OSD deployment" gone b "$fb"
check "down again is a no-op" "$RAMCEPH" down --dir "$T/d-a"
check "nothing written to /etc, /var/lib or /var/log" nothing_system_wide

echo "# ramceph tests took $((SECONDS - t0))s"
finish
