#!/usr/bin/env bash
# Clusters without root: the binary does not link librados (it is dlopen'd
# for rados:// stores only), runs file stores with librados hidden, and says
# plainly what is missing when a rados:// store is asked for; make build and
# make install take no apt-get. librados is hidden by bind-mounting /dev/null
# over its file in a private mount namespace (needs root; skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Neither among its own NEEDED entries nor pulled in by another library.
no_librados_needed() { ! readelf -d "$BIN" | grep NEEDED | grep -q rados && ! ldd "$BIN" | grep -q librados; }

# CMD with every librados file replaced by an empty one, for CMD only.
without_librados() {
  local files=() f
  for f in $(ldconfig -p | awk '/librados\.so/ {print $NF}'); do files+=("$(readlink -f "$f")"); done
  ((${#files[@]})) || { "$@"; return; }
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private bash -c 'for f in $1; do mount --bind /dev/null "$f"; done; shift; exec "$@"' \
    bash "${files[*]}" "$@"
}

file_store_without_librados() {
  mkdir -p "$WORK/store"   # ls reads a store; it does not make one
  without_librados "$BIN" store ls --store "file://$WORK/store" >/dev/null &&
    without_librados "$BIN" bench scheduler --tasks 20 --results "$WORK/sched" >/dev/null 2>&1
}

rados_url_says_what_is_missing() {
  local rc=0
  without_librados "$BIN" store ls --store "rados://pool?conf=$WORK/none.conf&id=job" >/dev/null 2>"$WORK/err" || rc=$?
  if ((rc != 0)) && grep -q "needs librados" "$WORK/err" && grep -q "librados.so" "$WORK/err"; then return 0; fi
  sed 's/^/# /' "$WORK/err"
  return 1
}

# With librados present the store gets past loading it: the next problem is the missing ceph.conf.
rados_url_loads_librados() {
  ! "$BIN" store ls --store "rados://pool?conf=$WORK/none.conf&id=job" >/dev/null 2>"$WORK/err2" &&
    grep -q "ceph.conf" "$WORK/err2" && ! grep -q "needs librados" "$WORK/err2"
}

no_apt_get() { ! make -n build install PREFIX="$WORK/p" | grep -qE 'apt-get|install-deps'; }

installs() {
  make --no-print-directory install PREFIX="$WORK/prefix" >"$WORK/install.log" 2>&1 &&
    "$WORK/prefix/bin/prunesweep" --help >/dev/null && [[ -x $WORK/prefix/bin/ramceph ]] &&
    [[ -f $WORK/prefix/share/prunesweep/slurm/prunesweep.sbatch ]]
}

check "the binary does not link librados" no_librados_needed
if [[ $(id -u) -eq 0 ]]; then
  check "file stores work with librados hidden" file_store_without_librados
  check "a rados:// store without librados: a clear message, non-zero exit" rados_url_says_what_is_missing
else
  echo "ok - skipped: hiding librados needs root"
fi
check "with librados, a rados:// store loads it" rados_url_loads_librados
check "make build and make install call no apt-get" no_apt_get
check "make install PREFIX=... installs the binary, ramceph and templates" installs
finish
