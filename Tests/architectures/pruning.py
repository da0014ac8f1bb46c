"""Pruning a prunesweep model of any architecture, checked against an
independent float64 numpy computation on the same file (the analysis
reference of Tests/analyse/checkpoints.py): every weight and bias, BatchNorm's
included, in the pool; running statistics and num_batches_tracked untouched.

  perturb FILE            BatchNorm weights, biases and statistics and constant biases
                          drawn at random (a fresh model's are constant), metadata kept
  check FILE OUT METHOD   prunesweep prune's OUT against the reference
"""
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "analyse"))
from checkpoints import read_checkpoint, reference  # noqa: E402

BUFFERS = (".running_mean", ".running_var", ".num_batches_tracked")


def perturb(path):
    metadata = safe_open(path, "numpy").metadata()
    tensors = load_file(path)
    rng = np.random.default_rng(7)
    batchnorms = [n[:-len(".weight")] for n, a in tensors.items() if n.endswith(".weight") and a.ndim == 1]
    for layer in batchnorms:
        shape = tensors[f"{layer}.weight"].shape
        tensors[f"{layer}.weight"] = (1 + 0.3 * rng.standard_t(5, shape)).astype(np.float32)
        tensors[f"{layer}.bias"] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        tensors[f"{layer}.running_mean"] = rng.standard_normal(shape).astype(np.float32)
        tensors[f"{layer}.running_var"] = rng.uniform(0.5, 2, shape).astype(np.float32)
        tensors[f"{layer}.num_batches_tracked"] = np.array(int(rng.integers(1, 1000)), dtype=np.int64)
    for name, a in tensors.items():   # torchvision's VGG starts its convolution biases at 0
        if name.endswith(".bias") and np.all(a == a.flat[0]):
            tensors[name] = (0.05 * rng.standard_normal(a.shape)).astype(np.float32)
    save_file(tensors, path, metadata=metadata)


def half_away(x):
    return int(math.floor(x + 0.5))


def check(path, out, method):
    ref = reference(path)
    summary = json.load(open(f"{out}/summary.json"))
    ratio = summary["ratio"]
    problems = []

    def close(what, a, b, rel):
        if not abs(a - b) <= rel * max(abs(a), abs(b), 1e-300):
            problems.append(f"{what}: prunesweep {a!r}, reference {b!r}")

    if summary["optimal"] != ref["optimal"]:
        problems.append(f"optimal: prunesweep {summary['optimal']}, reference {ref['optimal']}")
    close("K2", summary["k2"], ref["k2"], 1e-9)
    close("safe", summary["safe"], ref["safe"], 1e-9)
    kurtosis = {k["name"]: k["kurtosis"] for k in summary["kurtosis"]}
    if sorted(kurtosis) != sorted(ref["kurtosis"]):
        problems.append(f"kurtosis of {sorted(kurtosis)}, reference {sorted(ref['kurtosis'])}")
    for name, k in kurtosis.items():
        close(f"kurtosis {name}", k, ref["kurtosis"].get(name, math.nan), 1e-6)
    rows = [line.split(",") for line in open(f"{out}/curve.csv").read().split("\n") if line]
    column = rows[0].index("cosine_l1" if "cosine_l1" in rows[0] else "cosine")   # the global L1 curve
    for row in rows[1:]:
        r, c = float(row[0]), float(row[column])
        if not abs(c - ref["curve"][round(r * 100)][1]) <= 1e-6:
            problems.append(f"L1 cosine at {r}: prunesweep {c}, reference {ref['curve'][round(r * 100)][1]}")

    after = load_file(f"{out}/pruned.safetensors")
    pool = [(n, a) for n, _, a in read_checkpoint(path) if a is not None and n.endswith((".weight", ".bias"))]
    names = {n for n, _ in pool}
    before = load_file(path)
    for layer in [n[:-len(".running_mean")] for n in before if n.endswith(".running_mean")]:
        if not {f"{layer}.weight", f"{layer}.bias"} <= names:
            problems.append(f"BatchNorm {layer}: weight and bias not in the pool")
    for name, a in before.items():
        if name.endswith(BUFFERS) and not np.array_equal(a, after[name]):
            problems.append(f"{name}: a buffer changed")
    flat = np.concatenate([a for _, a in pool])
    want = np.zeros(flat.size, dtype=bool)
    if method == "l1":
        want[np.argsort(np.abs(flat), kind="stable")[:half_away(ratio * flat.size)]] = True
    elif method == "layerwise":
        at = 0
        for _, a in pool:
            want[at + np.argsort(np.abs(a), kind="stable")[:half_away(ratio * a.size)]] = True
            at += a.size
    got, at = np.zeros(flat.size, dtype=bool), 0
    for name, a in pool:
        mask = after[f"{name}_mask"].reshape(-1)
        new, old = after[name].reshape(-1), before[name].reshape(-1)
        pruned = mask == 0
        if not (np.all(new[pruned] == 0) and np.array_equal(new[~pruned], old[~pruned])):
            problems.append(f"{name}: pruned entries not zero or kept entries changed")
        got[at:at + a.size] = pruned
        at += a.size
    if method == "random":
        if got.sum() != half_away(ratio * flat.size):
            problems.append(f"random: {got.sum()} pruned, round(r n) = {half_away(ratio * flat.size)}")
        smallest = np.zeros(flat.size, dtype=bool)
        smallest[np.argsort(np.abs(flat), kind="stable")[:got.sum()]] = True
        if (smallest & got).sum() > 0.9 * got.sum():
            problems.append("random pruning picked mostly the smallest magnitudes")
    elif not np.array_equal(want, got):
        problems.append(f"{method}: {int(np.sum(want != got))} entries differ from the reference's selection")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    {"perturb": lambda: perturb(sys.argv[2]), "check": lambda: check(*sys.argv[2:5])}[sys.argv[1]]()
