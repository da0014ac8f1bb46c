#!/usr/bin/env bash
# The BatchNorm networks against files Python's safetensors writes and an
# independent numpy forward pass: a torchvision-named resnet20 state_dict
# (no prunesweep metadata) evaluated on CIFAR-10-format files gives numpy's
# eval-mode logits to 1e-4; a file prunesweep writes has exactly
# torchvision's names, shapes and dtypes. Needs a release build.
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
    '$BIN' train --arch $arch --epochs 0 --train-subset 8 --test-subset 8 --out '$WORK/$arch.safetensors' >/dev/null &&
    python3 '$REF' names '$WORK/$arch.safetensors' $arch"
done
finish
