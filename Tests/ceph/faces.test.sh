#!/usr/bin/env bash
# ramceph's S3 and CephFS faces, end to end on loopback with real parts: a
# radosgw driven by boto3 (buckets, objects, a 64 MiB multipart upload, a
# wrong key), a CephFS mounted with ceph-fuse (write, read, stat, rename,
# fsync down to RADOS, a 1 GiB file, 10,000 small files), status and env,
# a killed MDS, a gateway and an MDS that fail to start, no FUSE; the Slurm
# template with RAMCEPH_RGW and RAMCEPH_FS and the docs' example job on a
# real local Slurm; and after each 'down' no daemon, mount or key left behind.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RAMCEPH=${RAMCEPH_BIN:-$ROOT/ceph/ramceph}
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "$ROOT/Tests/lib.sh"

LC=$ROOT/slurm/local-cluster
T=$(mktemp -d /tmp/ramceph-faces.XXXXXX)
cleanup() {
  local d n
  [[ -d $T/lc ]] && "$LC" down --dir "$T/lc" >/dev/null 2>&1
  for d in "$T"/d-*; do
    [[ -f $d/ramceph.state ]] || continue
    for n in n1 n2; do "$RAMCEPH" node-down --dir "$d" --node "$n" >/dev/null 2>&1 || true; done
    "$RAMCEPH" down --dir "$d" >/dev/null 2>&1
  done
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap "exit 130" INT TERM
touch "$T/start"
t0=$SECONDS

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{printf "%.1f", $1 - $2}'; }

# up NAME ARGS...: deploy into $T/d-NAME; stderr to $T/NAME.err
up() {
  local name=$1
  shift
  "$RAMCEPH" up --dir "$T/d-$name" "$@" 2>"$T/$name.err" ||
    { sed 's/^/  | /' "$T/$name.err"; return 1; }
}
# shellcheck source=/dev/null
state() { (source "$T/d-$1/ramceph.state" && echo "${!2}") || true; }
adm() { local d=$T/d-$1; shift; timeout 30 ceph --conf "$d/ceph.conf" --name client.admin "$@"; }
pids_of() { pgrep -f -- "--conf $T/d-$1/ceph.conf" || true; }
mounted() { awk -v d="$1" '$5 == d {found = 1} END {exit !found}' /proc/self/mountinfo; }

# The S3 client: boto3 with nothing but what the env file exports.
cat >"$T/s3.py" <<'EOF'
import hashlib, os, sys
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")  # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... from the env
op = sys.argv[1]

def sha(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

if op == "roundtrip":  # create a bucket, put, get, list, delete
    body = os.urandom(1 << 20)
    s3.create_bucket(Bucket="roundtrip")
    s3.put_object(Bucket="roundtrip", Key="dir/obj", Body=body)
    assert s3.get_object(Bucket="roundtrip", Key="dir/obj")["Body"].read() == body, "get differs from put"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="roundtrip").get("Contents", [])]
    assert keys == ["dir/obj"], keys
    s3.delete_object(Bucket="roundtrip", Key="dir/obj")
    assert s3.list_objects_v2(Bucket="roundtrip")["KeyCount"] == 0, "object still listed"
    s3.delete_bucket(Bucket="roundtrip")
    assert "roundtrip" not in [b["Name"] for b in s3.list_buckets()["Buckets"]], "bucket still listed"
elif op == "multipart":  # 64 MiB in 8 parts of 8 MiB, read back, checksums equal
    src, back, part = sys.argv[2], sys.argv[3], 8 << 20
    s3.create_bucket(Bucket="multipart")
    up = s3.create_multipart_upload(Bucket="multipart", Key="big")
    parts = []
    with open(src, "rb") as f:
        for n in range(1, 9):
            r = s3.upload_part(Bucket="multipart", Key="big", UploadId=up["UploadId"], PartNumber=n, Body=f.read(part))
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket="multipart", Key="big", UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket="multipart", Key="big")
    assert head["ContentLength"] == 64 << 20 and head["ETag"].endswith('-8"'), head
    s3.download_file("multipart", "big", back)
    assert sha(src) == sha(back), "checksums differ"
    print(sha(back))
elif op == "refused":  # a key the gateway does not know, and a wrong secret
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    for k, s in (("NOSUCHKEY0000000000A", secret), (key, secret[:-1] + ("x" if secret[-1] != "x" else "y"))):
        try:
            boto3.client("s3", aws_access_key_id=k, aws_secret_access_key=s).list_buckets()
        except ClientError as e:
            code = e.response["Error"]["Code"]
            assert code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"), code
            print(code)
        else:
            sys.exit("a wrong key was accepted")
EOF
# shellcheck source=/dev/null
s3() { (source "$T/d-$1/env" && shift && timeout 120 python3 "$T/s3.py" "$@"); }

# ---------------------------------------------------------------- checks

up_timed() {
  local t
  t=$(now)
  up f --osds-per-node 2 --osd-size 2G --rgw --fs || return 1
  echo "# figure: up --rgw --fs with 2 OSDs of 2 GiB: $(since "$t") s (target 20 s)"
}

env_exports() {
  local e
  e=$("$RAMCEPH" env --dir "$T/d-f")
  grep -q "^export AWS_ENDPOINT_URL=http://127.0.0.1:$(state f RGW_PORT)$" <<<"$e" &&
    grep -Eq '^export AWS_ACCESS_KEY_ID=[A-Z0-9]{20}$' <<<"$e" &&
    grep -Eq '^export AWS_SECRET_ACCESS_KEY=[A-Za-z0-9]{40}$' <<<"$e" &&
    grep -q "^export RAMCEPH_FS_MOUNT=$T/d-f/fs$" <<<"$e" &&
    grep -q '^export RAMCEPH_FS_NAME=cephfs$' <<<"$e" &&
    grep -q '^export PRUNESWEEP_STORE="rados://' <<<"$e"
}

# Keys only in 0600 files of the 0700 state dir; the S3 secret only in env.
keys_private() {
  local d=$T/d-$1 f secret
  [[ $(stat -c %a "$d") == 700 && $(stat -c %a "$d/keys") == 700 && $(stat -c %a "$d/env") == 600 ]] || return 1
  for f in "$d"/keys/*; do [[ $(stat -c %a "$f") == 600 ]] || { echo "  $f is not 0600"; return 1; }; done
  secret=$(sed -n 's/^export AWS_SECRET_ACCESS_KEY=//p' "$d/env")
  [[ -n $secret && $(grep -rlF --exclude-dir=fs -- "$secret" "$d") == "$d/env" ]] || { echo "  S3 secret outside env"; return 1; }
  ! pgrep -af -- "$secret" >/dev/null || { echo "  S3 secret on a command line"; return 1; }
}

# Every daemon listens on 127.0.0.1 only, the gateway on its port; the FUSE
# client listens nowhere.
only_loopback() {
  local p bad listen
  listen=$(ss -Hltnp)
  for p in $(pids_of "$1"); do
    if [[ $(cat "/proc/$p/comm") == ceph-fuse ]]; then
      ! grep -q "pid=$p," <<<"$listen" || { echo "  ceph-fuse listens"; return 1; }
      continue
    fi
    bad=$(grep "pid=$p," <<<"$listen" | awk '$4 !~ /^127\.0\.0\.1:/') || true
    [[ -z $bad ]] || { echo "  $bad"; return 1; }
    grep -q "pid=$p," <<<"$listen" || { echo "  pid $p listens nowhere: $(tr '\0' ' ' <"/proc/$p/cmdline")"; return 1; }
  done
  grep "127.0.0.1:$(state "$1" RGW_PORT) " <<<"$listen" | grep -q '"radosgw"'
}

# No daemon keeps up's stderr open (else 'up 2>&1 | tee' would never end).
stderr_released() {
  local p
  for p in $(pids_of "$1"); do
    ! find "/proc/$p/fd" -lname "$T/$1.err" 2>/dev/null | grep -q . || { echo "  $(cat "/proc/$p/comm") holds it"; return 1; }
  done
}

# DisTRaC's shares: 0.84 of the gateway's budget to its data pool, 0.9/0.1 for CephFS.
pool_shares() {
  local detail
  detail=$(adm f osd pool ls detail)
  pgs() { sed -n "s/^pool [0-9]* '$1' .* pg_num \([0-9]*\) .*/\1/p" <<<"$detail"; }
  [[ $(pgs default.rgw.buckets.data) == 64 && $(pgs .rgw.root) == 4 && $(pgs cephfs_data) == 64 &&
    $(pgs cephfs_metadata) == 8 && $(pgs prunesweep) == 64 ]] || { echo "$detail" | head -12; return 1; }
}

multipart_64m() {
  head -c $((64 << 20)) /dev/urandom >"$T/big"
  s3 f multipart "$T/big" "$T/big.back" >/dev/null && cmp -s "$T/big" "$T/big.back"
}

status_faces() {
  local out
  out=$("$RAMCEPH" status --dir "$T/d-f") || { echo "$out" | tail; return 1; }
  grep -q "^endpoint http://127.0.0.1:$(state f RGW_PORT) .*HTTP/1.1 200" <<<"$out" &&
    grep -q "^file system cephfs: cephfs:1 {0=a=up:active}" <<<"$out" &&
    grep -q "^mount $T/d-f/fs: fuse" <<<"$out" &&
    grep -q "^client.rgw.gw running" <<<"$out" && grep -q "^mds.a running" <<<"$out" &&
    grep -q "^fuse running" <<<"$out"
}

M=$T/d-f/fs
fs_write_read() {
  head -c 3000000 /dev/urandom >"$T/small" && cp "$T/small" "$M/a" && cmp -s "$T/small" "$M/a"
}
fs_stat() {
  chmod 640 "$M/a" && [[ $(stat -c '%s %a %F' "$M/a") == "3000000 640 regular file" ]]
}
fs_rename() {
  mkdir "$M/d" && mv "$M/a" "$M/d/b" && [[ ! -e $M/a ]] && cmp -s "$T/small" "$M/d/b"
}
# After fsync the file's first object is in the data pool, at its full size.
fs_fsync() {
  local ino obj
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b"x" * (1 << 20)); os.fsync(fd); os.close(fd)' "$M/synced" || return 1
  ino=$(stat -c %i "$M/synced")
  obj=$(printf '%x.00000000' "$ino")
  timeout 30 rados --conf "$T/d-f/ceph.conf" --name client.admin -p cephfs_data stat "$obj" | grep -q "size 1048576"
}
# 1 GiB: 16 copies of 64 MiB of random data, written, synced, read back.
fs_1g() {
  local t w r
  t=$(now)
  for _ in {1..16}; do cat "$T/big"; done >"$M/1g" && sync "$M/1g"
  w=$(since "$t")
  t=$(now)
  [[ $(sha256sum <"$M/1g") == "$(for _ in {1..16}; do cat "$T/big"; done | sha256sum)" ]] || return 1
  r=$(since "$t")
  [[ $(stat -c %s "$M/1g") == $((1 << 30)) ]] || return 1
  echo "# figure: 1 GiB on CephFS: write+sync $w s, read+checksum $r s"
  rm "$M/1g"
}
fs_10k() {
  local t i
  t=$(now)
  mkdir "$M/many"
  for ((i = 0; i < 10000; i++)); do printf 'file %d\n' "$i" >"$M/many/f$i"; done
  [[ $(find "$M/many" -type f | wc -l) == 10000 && $(cat "$M/many/f0") == "file 0" &&
    $(cat "$M/many/f9999") == "file 9999" ]] || return 1
  echo "# figure: 10,000 small files written and listed in $(since "$t") s"
}

# nothing of deployment NAME (fsid F, mount M) is left: process, mount, file
gone() {
  local name=$1 fsid=$2 mnt=$3
  [[ ! -e $T/d-$name ]] || { echo "  state dir left"; return 1; }
  [[ -z $(pids_of "$name") ]] || { echo "  processes left: $(pids_of "$name")"; return 1; }
  ! grep -qF " $T/" /proc/self/mountinfo || { echo "  mount left: $(grep -F " $T/" /proc/self/mountinfo)"; return 1; }
  ! mounted "$mnt" || { echo "  $mnt still mounted"; return 1; }
  [[ -z $fsid ]] || ! compgen -G "/dev/shm/ramceph.$fsid.*" >/dev/null || { echo "  RAM dir left"; return 1; }
  [[ -z $(find /etc/ceph /var/lib/ceph /var/log/ceph "${HOME:-/root}/.aws" -newer "$T/start" 2>/dev/null | head -1) ]] ||
    { echo "  files written outside the state dir"; return 1; }
}

down_timed() {
  local t s
  t=$(now)
  "$RAMCEPH" down --dir "$T/d-$1" 2>/dev/null || return 1
  s=$(since "$t")
  echo "# figure: down ($2) in $s s (target 3 s)"
  awk -v s="$s" 'BEGIN {exit !(s <= 3)}'
}

kill_mds() {
  local pid
  pid=$(cat "$T/d-$1/run/mds.a.pid")
  [[ $(cat "/proc/$pid/comm") == ceph-mds ]] && kill -KILL "$pid"
  sleep 0.5
  ! "$RAMCEPH" status --dir "$T/d-$1" >"$T/killed.status" 2>&1 && grep -q '^mds.a NOT RUNNING' "$T/killed.status"
}

# A fault while starting a face: 'up' fails with the daemon's log, well
# within its deadline, and removes everything. BIN holds the faulty program.
face_fails() {
  local name=$1 bin=$2 want=$3 t rc=0
  shift 3
  t=$SECONDS
  PATH="$bin:$PATH" "$RAMCEPH" up --dir "$T/d-$name" --osd-size 1G --timeout 30 "$@" 2>"$T/$name.err" && rc=1
  ((rc == 0)) || { echo "  up succeeded"; return 1; }
  if ! grep -q "up failed; removing" "$T/$name.err" || ! grep -q -- "$want" "$T/$name.err"; then
    sed 's/^/  | /' "$T/$name.err" | tail -20
    return 1
  fi
  echo "# up with a failing $name gave up after $((SECONDS - t)) s"
  ((SECONDS - t < 30))
}

# /dev/fuse hidden (in a private mount namespace): 'up --fs' refuses at once.
no_fuse_refused() {
  local out
  touch "$T/nofuse"
  # shellcheck disable=SC2016 # expanded by the inner shell
  ! out=$(unshare -m sh -c 'mount --bind "$1" /dev/fuse && exec "$2" up --fs --dir "$3"' \
    sh "$T/nofuse" "$RAMCEPH" "$T/d-nofuse" 2>&1) || return 1
  echo "  | $out"
  grep -q "/dev/fuse" <<<"$out" && grep -q -- "--rgw" <<<"$out" && [[ ! -e $T/d-nofuse ]]
}

# ---------------------------------------------------------------- Slurm

job_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
job_final() { [[ $(job_state "$1") =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$ ]]; }
# job_completes ID OUT: the job ends COMPLETED within 180 s, else show OUT
job_completes() {
  if ! wait_for 180 job_final "$1" || [[ $(job_state "$1") != COMPLETED ]]; then
    echo "  job $1: $(job_state "$1")"
    sed 's/^/  | /' "$2" | tail -n 25
    return 1
  fi
}

slurm_up() {
  "$LC" up --nodes 2 --dir "$T/lc" >/dev/null || return 1
  eval "$("$LC" env --dir "$T/lc")"
}

# The template on 2 nodes with both faces; a stand-in for prunesweep uses
# them from rank 0 (on the first node) with what the template exported.
template_faces() {
  cat >"$T/fake-prunesweep" <<EOF
#!/bin/bash
[[ \${SLURM_PROCID:-0} == 0 ]] || exit 0
python3 -c 'import boto3; s3 = boto3.client("s3"); s3.create_bucket(Bucket="tpl")
s3.put_object(Bucket="tpl", Key="k", Body=b"via s3"); print(s3.get_object(Bucket="tpl", Key="k")["Body"].read().decode())' >"$T/tpl.s3"
echo "via fs" >"\$RAMCEPH_FS_MOUNT/x" && { cat "\$RAMCEPH_FS_MOUNT/x"; echo "\$RAMCEPH_FS_MOUNT"; } >"$T/tpl.fs"
EOF
  chmod +x "$T/fake-prunesweep"
  local id exports=ALL,SWEEP=$T/s3.py,RESULTS=$T/res,PRUNESWEEP=$T/fake-prunesweep,RAMCEPH=$RAMCEPH
  exports+=",RAMCEPH_DIR=$T/d-tpl,RAMCEPH_OPTS=--address 127.0.0.1 --osd-size 1G,RAMCEPH_RGW=1,RAMCEPH_FS=$T/mnt-tpl"
  id=$(sbatch --parsable -N2 --chdir "$T" -o "$T/tpl.out" --export="$exports" "$ROOT/slurm/prunesweep.sbatch") &&
    job_completes "$id" "$T/tpl.out" || return 1
  [[ $(cat "$T/tpl.s3") == "via s3" && $(cat "$T/tpl.fs") == "via fs"$'\n'"$T/mnt-tpl" ]] ||
    { sed 's/^/  | /' "$T/tpl.out" | tail; return 1; }
  grep -q 'sweep complete' "$T/tpl.out" && grep -q 'ramceph down took' "$T/tpl.out"
}

# The example job in docs/cluster.md, as written there.
docs_example() {
  sed -n '/^<!-- example job/,/^```$/p' "$ROOT/docs/cluster.md" | sed '1,2d;$d' >"$T/example.sh"
  [[ -s $T/example.sh ]] || { echo "  no example in docs/cluster.md"; return 1; }
  shellcheck "$T/example.sh" || return 1
  local id exports="ALL,RAMCEPH=$RAMCEPH,RAMCEPH_DIR=$T/d-doc,RAMCEPH_OPTS=--osd-size 1G,RESULTS=$T/doc-results"
  id=$(sbatch --parsable --chdir "$T" -o "$T/doc.out" --export="$exports" "$T/example.sh") &&
    job_completes "$id" "$T/doc.out" || return 1
  grep -q "^done: 200 frames in $T/doc-results/frames.tar" "$T/doc.out" && [[ -s $T/doc-results/frames.tar ]]
}

# ---------------------------------------------------------------- run

echo "# static checks"
lint() { (cd "$ROOT" && shellcheck -x ceph/ramceph Tests/ceph/faces.test.sh); }
check "shellcheck ramceph and this test" lint
check "boto3 is installed (make deps-test)" python3 -c "import boto3"

echo "# S3 gateway and CephFS on 2 OSDs"
check "up --rgw --fs" up_timed
ff=$(state f FSID)
check "env exports the S3 endpoint and keys and the mount" env_exports
check "keys private: 0600 files, S3 secret only in env, on no command line" keys_private f
check "daemons listen on 127.0.0.1 only, radosgw on its port" only_loopback f
check "no daemon holds up's stderr" stderr_released f
check "pools get DisTRaC's shares" pool_shares
check "status shows the endpoint, the mount and an active MDS" status_faces
check "S3: bucket create, put, get, list, delete" s3 f roundtrip
check "S3: multipart upload of 64 MiB, checksums equal" multipart_64m
check "S3: a wrong key is refused" s3 f refused
check "CephFS: write and read" fs_write_read
check "CephFS: stat" fs_stat
check "CephFS: rename" fs_rename
check "CephFS: fsync puts the data into RADOS" fs_fsync
check "CephFS: a 1 GiB file" fs_1g
check "CephFS: 10,000 small files" fs_10k
check "down" down_timed f "S3 and CephFS"
check "nothing left: daemons, mount, mount dir, RAM, keys" gone f "$ff" "$M"

echo "# a killed MDS under a mount in a directory of our own"
mkdir "$T/mnt-k"
check "up --mount DIR (1 OSD)" up k --osd-size 1G --mount "$T/mnt-k"
fk=$(state k FSID)
check "mounted at DIR" mounted "$T/mnt-k"
check "status reports the killed MDS" kill_mds k
check "down with the MDS dead" down_timed k "MDS killed"
check "nothing left, and DIR is ours again, empty" gone k "$fk" "$T/mnt-k"
check "DIR kept (it was not made by up)" test -d "$T/mnt-k"

if command -v slurmctld >/dev/null && command -v sbatch >/dev/null; then
  echo "# on a local Slurm with 2 nodes"
  check "local Slurm up" slurm_up
  check "template with RAMCEPH_RGW=1 RAMCEPH_FS=DIR: the job uses S3 and the mount" template_faces
  check "nothing left of the template's deployment" gone tpl "" "$T/mnt-tpl"
  check "DIR made by up is removed by down" test ! -e "$T/mnt-tpl"
  check "the example job in docs/cluster.md runs" docs_example
  check "nothing left of the example's deployment" gone doc "" "$T/d-doc/fs"
  "$LC" down --dir "$T/lc" >/dev/null
else
  echo "# no Slurm here: the template and docs checks are skipped"
fi

echo "# faults while starting"
mkdir "$T/badrgw" "$T/badmds"
# a real radosgw that cannot bind its frontend; a real ceph-mds without its key
cat >"$T/badrgw/radosgw" <<'EOF'
#!/bin/sh
PATH=${PATH#*:} exec radosgw "$@" --rgw-frontends "beast endpoint=192.0.2.1:1"
EOF
cat >"$T/badmds/ceph-mds" <<'EOF'
#!/bin/sh
PATH=${PATH#*:} exec ceph-mds "$@" --keyring /nonexistent
EOF
chmod +x "$T/badrgw/radosgw" "$T/badmds/ceph-mds"
check "a gateway that cannot start: error with its log, all removed" \
  face_fails rgwfail "$T/badrgw" "client.rgw.gw exited while starting" --rgw
check "nothing left of it" gone rgwfail "" "$T/d-rgwfail/fs"
check "an MDS that cannot start: error with its log, all removed" \
  face_fails mdsfail "$T/badmds" "mds.a exited while starting" --fs --rgw
check "nothing left of it" gone mdsfail "" "$T/d-mdsfail/fs"
if unshare -m true 2>/dev/null; then
  check "no FUSE: up --fs says so at once and what to do instead" no_fuse_refused
else
  echo "# cannot make a mount namespace here: the no-FUSE check is skipped"
fi

echo "# ramceph faces tests took $((SECONDS - t0))s"
finish
