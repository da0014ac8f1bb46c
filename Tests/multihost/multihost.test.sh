#!/usr/bin/env bash
# A real network: three test hosts in network namespaces (veth pairs to a
# bridge in a fourth namespace, addresses only inside them), a ramceph OSD on
# each host and the store on them, the tiny sweep run with mpirun across the
# three hosts over TCP. Checks exactly-once and that the results equal one
# rank's; then cuts one host's link mid-run and checks the sweep ends within
# its timeouts with a sound journal. Launcher: `ssh HOST CMD` for Open MPI and
# ramceph is a script that runs CMD in HOST's namespace (ip netns exec).
# Needs root; everything it made is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || ! command -v ceph-mon >/dev/null; then
  echo "ok - skipped: needs root, iproute2 and Ceph"; exit 0
fi
ROOT=$PWD
SWEEP=$ROOT/Tests/sweep/tiny.toml
WORK=$(mktemp -d)
TAG=psmh$$                            # namespaces ${TAG}-h1..h3 and ${TAG}-sw
NET=10.231.$(($$ % 200 + 20))         # a /24 that exists only inside them
HOSTS=(h1 h2 h3)
STARTED=$SECONDS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# TCP on the bridge, not shared memory and loopback (the Makefile's defaults)
export OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=$NET.0/24 OMPI_MCA_oob_tcp_if_include=$NET.0/24
export OMPI_MCA_plm_rsh_agent=$WORK/bin/ssh
# a lost host is noticed in seconds (keepalive 5 s, then 3 probes 2 s apart), not after 300 s
export OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3

# CMD on host H: its network namespace, and its own host name (a UTS namespace)
# shellcheck disable=SC2016  # $0 and $@ are the inner shell's
in_host() { local h=$1; shift; ip netns exec "$TAG-$h" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$h" "$@"; }

# The launcher Open MPI and ramceph use to reach a host.
make_launcher() {
  mkdir -p "$WORK/bin"
  cat >"$WORK/bin/ssh" <<EOF
#!/usr/bin/env bash
# ssh [options] HOST COMMAND...: COMMAND in the test host's network namespace.
set -euo pipefail
while [[ \${1:-} == -* ]]; do case \$1 in -o | -p | -l | -i) shift 2 ;; *) shift ;; esac; done
host=\$1; shift
exec ip netns exec "$TAG-\$host" unshare --uts bash -c "hostname \$host && \$*"
EOF
  chmod +x "$WORK/bin/ssh"
  printf '%s slots=1\n' "${HOSTS[@]}" >"$WORK/hostfile"
}

make_network() {
  ip netns add "$TAG-sw"
  ip -n "$TAG-sw" link add br0 type bridge
  ip -n "$TAG-sw" link set br0 up
  local i=1 h
  for h in "${HOSTS[@]}"; do
    ip netns add "$TAG-$h"
    ip link add "$TAG$h" type veth peer name "${TAG}b$i"
    ip link set "$TAG$h" netns "$TAG-$h"
    ip link set "${TAG}b$i" netns "$TAG-sw"
    ip -n "$TAG-sw" link set "${TAG}b$i" master br0 up
    ip -n "$TAG-$h" link set "$TAG$h" name eth0
    ip -n "$TAG-$h" addr add "$NET.$i/24" dev eth0
    ip -n "$TAG-$h" link set eth0 up
    ip -n "$TAG-$h" link set lo up
    i=$((i + 1))
  done
}

# A TCP connect to a closed port: refused (an answer) when the host is reachable, a timeout when not.
answers() { in_host "$1" python3 -c 'import socket, sys; s = socket.socket(); s.settimeout(3); sys.exit(s.connect_ex((sys.argv[1], 9)) != 111)' "$2"; }
reachable() { answers h1 "$NET.3" && answers h3 "$NET.2"; }

ceph_up() {
  in_host h1 env PATH="$WORK/bin:$PATH" "$ROOT/ceph/ramceph" up --nodes h1,h2,h3 --address "$NET.1" \
    --dir "$WORK/ceph" --osd-size 1G --timeout 90 >"$WORK/ceph-up.log" 2>&1 ||
    { tail -n 20 "$WORK/ceph-up.log" | sed 's/^/# /'; return 1; }
  # shellcheck disable=SC1091
  STORE=$(source "$WORK/ceph/env" && echo "$PRUNESWEEP_STORE&timeout=20")
}

# Every daemon of the deployment listens on the test subnet only.
binds_in_subnet() {
  local h bad=0
  for h in "${HOSTS[@]}"; do
    if in_host "$h" ss -Hltnp | awk '/ceph-/ {print $4}' | grep -v "^$NET\.\|^127\.0\.0\.1:" | grep -q .; then bad=1; fi
  done
  ((bad == 0))
}

one_osd_per_host() {
  [[ $(sort -u "$WORK"/ceph/run/osd.*.node | tr '\n' ' ') == "h1 h2 h3 " ]] &&
    in_host h1 env CEPH_CONF="$WORK/ceph/ceph.conf" ceph --id admin -k "$WORK/ceph/keys/client.admin.keyring" osd stat 2>/dev/null |
    grep -q "3 osds: 3 up"
}

sweep_across() { # results-dir [sweep]: mpirun in h1 with one rank per host
  in_host h1 timeout 900 mpirun -np 3 --hostfile "$WORK/hostfile" --map-by node \
    "$BIN" run "${2:-$SWEEP}" --results "$1" --store "$STORE" 2>"$1.log"
}

ranks_on_three_hosts() {
  python3 - "$1" <<'PY'
import json, sys
hosts = json.load(open(sys.argv[1]))["runs"][-1]["hosts"]
sys.exit(0 if sorted(hosts) == ["h1", "h2", "h3"] else 1)
PY
}

exactly_once() {
  python3 - "$1" "$TASKS" <<'PY'
import json, sys, collections
c = collections.Counter(json.loads(l)["task"] for l in open(sys.argv[1]))
dupes = [t for t, n in c.items() if n > 1]
ok = len(c) == int(sys.argv[2]) and not dupes
if not ok: print(f"# {len(c)} tasks of {sys.argv[2]}, duplicated: {dupes}")
sys.exit(0 if ok else 1)
PY
}

# Every line parses and no task is there twice (a cut may leave tasks undone).
sound_journal() {
  python3 - "$1" <<'PY'
import json, sys, collections
c = collections.Counter(json.loads(l)["task"] for l in open(sys.argv[1]))
sys.exit(0 if all(n == 1 for n in c.values()) else 1)
PY
}

lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
has_lines() { (($(lines "$1") >= $2)); }

# The tiny sweep with other seeds (parents not in the store yet, so the run
# lasts); once its first task is journaled, h3's link goes down at the
# bridge. The run must end by itself within 240 s.
cut_link() {
  local dir=$WORK/cut pid start rc=0
  sed 's/^seeds = .*/seeds = [2, 3]/' "$SWEEP" >"$WORK/cut.toml"
  sweep_across "$dir" "$WORK/cut.toml" &
  pid=$!
  wait_for 300 has_lines "$dir/tiny/results.jsonl" 1 || { kill "$pid"; return 1; }
  ip -n "$TAG-sw" link set "${TAG}b3" down
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - start < 240)); do sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then echo "# still running 240 s after the cut"; kill "$pid"; return 1; fi
  wait "$pid" || rc=$?
  CUT="exit $rc $((SECONDS - start)) s after the cut, $(lines "$dir/tiny/results.jsonl") of $TASKS tasks journaled ($(grep -c '"failed"' "$dir/tiny/results.jsonl") failed)"
  echo "# cut link: $CUT"
  grep -m 3 -iE "lost|error|abort|timed out" "$dir.log" | sed 's/^/#   /' || true
}

# Processes in our namespaces are ours: ramceph down first, then TERM/KILL what is left.
cleanup() {
  set +e
  [[ -f $WORK/ceph/ramceph.state ]] &&
    in_host h1 env PATH="$WORK/bin:$PATH" timeout 60 "$ROOT/ceph/ramceph" down --dir "$WORK/ceph" >/dev/null 2>&1
  local ns p
  for ns in "${HOSTS[@]/#/$TAG-}" "$TAG-sw"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  done
  sleep 1
  for ns in "${HOSTS[@]/#/$TAG-}" "$TAG-sw"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

TASKS=$("$BIN" plan "$SWEEP" | awk '/^total tasks:/ {print $3}' | tr -d ';')
make_launcher
check "three hosts in namespaces on a bridge" make_network
check "hosts reach each other over the bridge" reachable
check "ramceph: MON on h1, one OSD on each host" ceph_up
check "three OSDs up, one per host" one_osd_per_host
check "Ceph daemons listen only on the test subnet" binds_in_subnet
check "reference: the sweep on one rank, file store" "$BIN" run "$SWEEP" --results "$WORK/ref" 2>"$WORK/ref.log"
check "the sweep on 3 hosts over TCP, store on their OSDs" sweep_across "$WORK/across"
check "its manifest names the three hosts" ranks_on_three_hosts "$WORK/across/tiny/manifest.json"
check "every task exactly once" exactly_once "$WORK/across/tiny/results.jsonl"
metrics "$WORK/ref/tiny/results.jsonl" >"$WORK/m-ref"
metrics "$WORK/across/tiny/results.jsonl" >"$WORK/m-across"
check "results equal one rank's, byte for byte" cmp -s "$WORK/m-ref" "$WORK/m-across"
check "a host's link cut mid-run: the sweep ends within its timeouts" cut_link
check "the cut run's journal: every line parses, no task twice" sound_journal "$WORK/cut/tiny/results.jsonl"
echo "# multihost wall time $((SECONDS - STARTED)) s"
finish
