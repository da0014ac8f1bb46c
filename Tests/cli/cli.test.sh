#!/usr/bin/env bash
# Bad input on the command line: a clear message naming the file, flag or
# field, a non-zero exit, no crash, and no partial output left behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# fails CODE PATTERN CMD...: CMD exits with CODE (any non-zero for "x") and
# its stderr matches PATTERN; a crash (signal) never passes.
fails() {
  local code=$1 pattern=$2 status=0; shift 2
  "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  if [[ $code == x ]]; then [[ $status -ne 0 && $status -lt 128 ]] || { echo "exit $status" >&2; return 1; }
  else [[ $status -eq $code ]] || { echo "exit $status, expected $code" >&2; cat "$WORK/err" >&2; return 1; }; fi
  grep -Eq -- "$pattern" "$WORK/err" || { echo "stderr does not match '$pattern':" >&2; cat "$WORK/err" >&2; return 1; }
}

nothing_in() { [[ -z $(ls -A "$1" 2>/dev/null) ]]; }

# a tiny valid model and a corrupt one
"$BIN" train --arch mlp:8 --epochs 0 --out "$WORK/m.safetensors" >/dev/null
head -c 100 "$WORK/m.safetensors" > "$WORK/torn.safetensors"
printf 'not a model' > "$WORK/junk.safetensors"
mkdir -p "$WORK/partial-data"
cp /usr/share/datasets/fashion-mnist/t10k-* "$WORK/partial-data/"

check "train: unknown architecture is an argument error" fails 64 "arch" "$BIN" train --arch resnet --out "$WORK/x.safetensors"
check "train: negative learning rate" fails 64 "--lr must be a positive number" "$BIN" train --lr=-1 --out "$WORK/x.safetensors"
check "train: missing training file names it" fails x "train-images-idx3-ubyte.*file not found" "$BIN" train --epochs 1 --data "$WORK/partial-data" --out "$WORK/x.safetensors"
check "train: wrote no model after failing" test ! -e "$WORK/x.safetensors"
check "eval: missing file" fails x "nope.safetensors.*file not found" "$BIN" eval "$WORK/nope.safetensors"
check "eval: truncated file" fails x "torn.safetensors: not a valid safetensors file" "$BIN" eval "$WORK/torn.safetensors"
check "eval: not safetensors" fails x "junk.safetensors: not a valid safetensors file" "$BIN" eval "$WORK/junk.safetensors"
check "prune: bad ratio" fails 64 "ratio" "$BIN" prune "$WORK/m.safetensors" --ratio 1.5 --out "$WORK/p1"
check "prune: corrupt model, no output left" fails x "torn.safetensors" "$BIN" prune "$WORK/torn.safetensors" --out "$WORK/p2"
check "prune: output dir empty after failure" nothing_in "$WORK/p2"
check "distill: temperature must be positive" fails 64 "temperature" "$BIN" distill --teacher uniform --student lenet5 --temperature 0 --out "$WORK/d.safetensors"
check "distill: alpha outside [0, 1]" fails 64 "alpha" "$BIN" distill --teacher uniform --student lenet5 --alpha 1.5 --out "$WORK/d.safetensors"
check "distill: unknown teacher" fails 64 "teacher" "$BIN" distill --teacher bert --student lenet5 --out "$WORK/d.safetensors"
check "distill: no student written" test ! -e "$WORK/d.safetensors"
check "compare: missing file" fails x "nope.safetensors" "$BIN" compare "$WORK/m.safetensors" "$WORK/nope.safetensors"
check "store: bad URL" fails x "invalid store URL" "$BIN" store ls --store "ftp://x"
check "store: no such store (a read never makes one)" fails x "no such directory" "$BIN" store get parent/none "$WORK/g.safetensors" --store "file://$WORK/store"
mkdir -p "$WORK/store"
check "store: missing key" fails x "no such object" "$BIN" store get parent/none "$WORK/g.safetensors" --store "file://$WORK/store"
check "plan: missing sweep file" fails 2 "nope.toml: sweep file not found" "$BIN" plan "$WORK/nope.toml"
check "run: bad shard" fails 64 "--shard must be I/N" "$BIN" run "$WORK/nope.toml" --shard 3/2
mkdir -p "$WORK/empty"
check "report: no results" fails 2 "no results" "$BIN" report "$WORK/empty"
check "report: no such directory" fails 2 "no such directory" "$BIN" report "$WORK/nope"
check "report: unknown --format" fails 2 "--format must be one of md, csv, html, json, all, got 'pdf'" "$BIN" report "$WORK/empty" --format pdf
check "shellcheck" shellcheck -x Tests/cli/cli.test.sh
finish
