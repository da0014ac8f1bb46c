#!/usr/bin/env bash
# The BatchNorm networks against files Python's safetensors writes and an
# independent numpy forward pass: a torchvision-named resnet20 state_dict
# (no prunesweep metadata) evaluated on CIFAR-10-format files gives numpy's
# eval-mode logits to 1e-4; a file prunesweep writes has exactly
# torchvision's names, shapes and dtypes; the same file through compare and
# as a sweep parent; pruning every architecture (kurtosis, K2, optimal and
# safe ratios, global L1, layer-wise and random masks, BatchNorm's weight and
# bias in the pool, its statistics untouched) against numpy on the same
# weights. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REF=Tests/architectures/reference.py

python3 "$REF" make "$WORK"
eval_logits() { "$BIN" eval "$1" --arch resnet20 --data "$WORK" --logits "$2" >"$WORK/eval.log" 2>&1; }
check "eval takes a PyTorch-style state_dict with --arch" eval_logits "$WORK/resnet20.safetensors" "$WORK/logits.safetensors"
check "resnet20's logits equal numpy's to 1e-4" python3 "$REF" logits "$WORK" "$WORK/logits.safetensors"
negative_control() {   # the comparison can fail: one running variance changed
  python3 -c "
from safetensors.numpy import load_file, save_file
t = load_file('$WORK/resnet20.safetensors'); t['layer2.1.bn1.running_var'][3] *= 1.5
save_file(t, '$WORK/off.safetensors')"
  eval_logits "$WORK/off.safetensors" "$WORK/off-logits.safetensors"
  ! python3 "$REF" logits "$WORK" "$WORK/off-logits.safetensors" >/dev/null
}
check "the comparison catches one running variance off by 1.5x" negative_control
check "a file without the architecture and no --arch is refused by name" bash -c "
  ! '$BIN' eval '$WORK/resnet20.safetensors' --data '$WORK' 2>'$WORK/err' && grep -q 'architecture' '$WORK/err'"
for arch in resnet20 resnet18; do
  check "$arch: prunesweep's file has torchvision's names, shapes and dtypes" bash -c "
    '$BIN' train --arch $arch --epochs 0 --train-subset 8 --test-subset 8 --out '$WORK/ours-$arch.safetensors' >/dev/null &&
    python3 '$REF' names '$WORK/ours-$arch.safetensors' $arch"
done
# compare and a sweep take the PyTorch file too
compare_self() {
  "$BIN" compare "$WORK/resnet20.safetensors" "$WORK/resnet20.safetensors" --arch resnet20 --data "$WORK" --json "$WORK/same.json" >/dev/null &&
    "$BIN" compare "$WORK/resnet20.safetensors" "$WORK/off.safetensors" --arch resnet20 --data "$WORK" --json "$WORK/off.json" >/dev/null &&
    python3 -c "
import json; s, o = (json.load(open('$WORK/' + f)) for f in ('same.json', 'off.json'))
assert s['agreement'] == 1 and s['jensenShannon'] == 0 and o['jensenShannon'] > 0, (s, o)"
}
check "compare --arch takes PyTorch files: identical to itself, apart from the changed one" compare_self
checkpoint_parent() {
  cat >"$WORK/parent.toml" <<TOML
name = "torch-parent"
[data]
dir = "$WORK"
[parent]
arch = "resnet20"
checkpoint = "$WORK/resnet20.safetensors"
[finetune]
epochs = 1
batch = 8
[axes]
seeds = [0]
ratios = [0.5, "optimal"]
TOML
  "$BIN" run "$WORK/parent.toml" --results "$WORK/tp" 2>"$WORK/tp.log" || return 1
  "$BIN" eval "$WORK/resnet20.safetensors" --arch resnet20 --data "$WORK" >"$WORK/eval.txt" || return 1
  "$BIN" analyse "$WORK/resnet20.safetensors" --out "$WORK/tp-analyse" >/dev/null || return 1
  python3 - "$WORK/tp/torch-parent/results.jsonl" "$WORK/tp-analyse/summary.json" "$WORK/eval.txt" <<'PY2'
import json, re, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
a = json.load(open(sys.argv[2]))
accuracy = float(re.search(r"accuracy ([0-9.]+) %", open(sys.argv[3]).read()).group(1)) / 100
parent = next(r for r in rs if r["kind"] == "parent")
m = parent["metrics"]
assert parent["status"] == "done" and "train_loss" not in m, parent
assert abs(m["accuracy"] - accuracy) < 1e-4, (m["accuracy"], accuracy)
assert m["optimal_ratio"] == a["optimal"] and abs(m["k2"] - a["k2"]) <= 1e-9 * a["k2"], (m, a)
assert [r["status"] for r in rs].count("done") == 3, [r["status"] for r in rs]
PY2
}
check "a PyTorch file as [parent] checkpoint: not trained, eval's accuracy, analyse's optimal ratio and K2" checkpoint_parent

# pruning every architecture against numpy on the same weights
PRUNING=Tests/architectures/pruning.py
for arch in lenet5 resnet20 resnet18 vgg11_bn vgg16_bn; do
  model=$WORK/prune-$arch.safetensors
  "$BIN" train --arch "$arch" --epochs 0 --seed 3 --train-subset 8 --test-subset 8 --out "$model" >/dev/null
  python3 "$PRUNING" perturb "$model"
  for method in l1 layerwise random; do
    check "$arch, $method at 0.6: kurtosis, K2, optimal, safe and the masks equal numpy's" bash -c "
      '$BIN' prune '$model' --method $method --ratio 0.6 --epochs 0 --test-subset 16 --out '$WORK/p-$arch-$method' >/dev/null &&
      python3 '$PRUNING' check '$model' '$WORK/p-$arch-$method' $method"
  done
done
check "the mask check can fail: layer-wise masks are not global L1's" bash -c "
  ! python3 '$PRUNING' check '$WORK/prune-resnet20.safetensors' '$WORK/p-resnet20-layerwise' l1 2>/dev/null"
finish
