"""Checkpoints for the analyse suite, and the reference analysis they are checked against.

    checkpoints.py make DIR      writes fp32/fp16/bf16/f64 files, a sharded checkpoint and broken files
    checkpoints.py check PATH OUT  compares prunesweep analyse's OUT with a float64 sort-based analysis of PATH

The reference is independent of prunesweep: numpy, one stable sort of all
in-scope magnitudes, prefix sums of squares, two-pass central moments.
"""
import json
import math
import os
import struct
import sys

import numpy as np
from safetensors.numpy import save_file

RNG = np.random.default_rng(7)


def heavy(shape, scale):
    """Heavy-tailed weights (Student t, 3 degrees of freedom), like trained ones."""
    return (RNG.standard_t(3, size=shape) * scale).astype(np.float64)


def model():
    """A small model's tensors: weights and biases, an integer buffer, an all-zero bias, a constant-free norm."""
    return {
        "conv1.weight": heavy((6, 1, 5, 5), 0.2),
        "conv1.bias": heavy((6,), 0.05),
        "conv2.weight": heavy((16, 6, 5, 5), 0.08),
        "conv2.bias": np.zeros(16),
        "fc1.weight": heavy((120, 400), 0.03),
        "fc1.bias": heavy((120,), 0.02),
        "norm.weight": 1 + heavy((84,), 0.01),
        "fc2.weight": heavy((10, 84), 0.1),
        "position_ids": np.arange(64, dtype=np.int64),
        "running_stats": heavy((10,), 1.0),
    }


def to_bf16_bits(a):
    """float64 -> bfloat16 bit patterns, rounded to nearest even (as torch does)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_raw(path, tensors, metadata=None):
    """A safetensors file by hand, for dtypes numpy lacks (BF16): name -> (dtype, shape, bytes)."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make(d):
    os.makedirs(d, exist_ok=True)
    m = model()
    def cast(t):
        return {k: (v if v.dtype == np.int64 else v.astype(t)) for k, v in m.items()}
    save_file(cast(np.float32), f"{d}/fp32.safetensors", metadata={"format": "pt"})
    save_file(cast(np.float16), f"{d}/fp16.safetensors")
    save_file(cast(np.float64), f"{d}/f64.safetensors")
    write_raw(f"{d}/bf16.safetensors", {k: ("I64", v.shape, v.tobytes()) if v.dtype == np.int64 else ("BF16", v.shape, to_bf16_bits(v).tobytes())
                                        for k, v in m.items()})
    # sharded, as transformers writes it: two shards and an index
    os.makedirs(f"{d}/sharded", exist_ok=True)
    names = list(m)
    shards = {"model-00001-of-00002.safetensors": names[:5], "model-00002-of-00002.safetensors": names[5:]}
    weight_map = {}
    for file, part in shards.items():
        save_file({k: cast(np.float32)[k] for k in part}, f"{d}/sharded/{file}", metadata={"format": "pt"})
        weight_map.update({k: file for k in part})
    with open(f"{d}/sharded/model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    # LeNet5 under PyTorch's names, as PyTorch would save it (no prunesweep metadata), in fp16
    lenet = {"conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
             "fc1.weight": (120, 400), "fc1.bias": (120,), "fc2.weight": (84, 120), "fc2.bias": (84,), "fc3.weight": (10, 84), "fc3.bias": (10,)}
    save_file({k: heavy(v, 0.05).astype(np.float16) for k, v in lenet.items()}, f"{d}/lenet5-torch.safetensors", metadata={"format": "pt"})
    with_nan = {k: v.astype(np.float32) for k, v in m.items() if v.dtype != np.int64}
    with_nan["fc2.weight"][3, 7] = np.nan
    save_file(with_nan, f"{d}/nan.safetensors")
    broken(d)


def broken(d):
    """Files that must be refused with a message naming them (and the tensor, where there is one)."""
    good = open(f"{d}/fp32.safetensors", "rb").read()
    os.makedirs(f"{d}/bad", exist_ok=True)
    open(f"{d}/bad/truncated.safetensors", "wb").write(good[:-100])
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + n])
    def rewrite(name, change):
        h = json.loads(json.dumps(header))
        change(h)
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        open(f"{d}/bad/{name}.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + good[8 + n:])
    rewrite("overlap", lambda h: h["fc1.weight"].__setitem__("data_offsets", [o - 8 for o in h["fc1.weight"]["data_offsets"]]))
    rewrite("beyond", lambda h: h["fc1.weight"].__setitem__("data_offsets", [0, 10 ** 12]))
    rewrite("shape", lambda h: h["fc1.weight"].__setitem__("shape", [121, 400]))
    open(f"{d}/bad/huge-header.safetensors", "wb").write(struct.pack("<Q", 1 << 40) + b"{}")
    open(f"{d}/bad/not-json.safetensors", "wb").write(struct.pack("<Q", 8) + b"{nope!!}")
    os.makedirs(f"{d}/bad/missing-shard", exist_ok=True)
    with open(f"{d}/bad/missing-shard/model.safetensors.index.json", "w") as f:
        json.dump({"weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}, f)
    save_file({"a.weight": np.ones(4, dtype=np.float32)}, f"{d}/bad/missing-shard/model-00001-of-00002.safetensors")


def read_checkpoint(path):
    """Tensors in the order prunesweep reads them: files sorted by name, tensors by offset."""
    if os.path.isdir(path):
        index = f"{path}/model.safetensors.index.json"
        if os.path.exists(index):
            files = sorted(set(json.load(open(index))["weight_map"].values()))
        else:
            files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
        files = [f"{path}/{f}" for f in files]
    else:
        files = [path]
    out = []
    for f in files:
        raw = open(f, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        header.pop("__metadata__", None)
        for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
            b, end = e["data_offsets"]
            data = raw[8 + n + b:8 + n + end]
            dt = e["dtype"]
            if dt == "BF16":
                a = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            elif dt in ("F32", "F16", "F64"):
                a = np.frombuffer(data, {"F32": np.float32, "F16": np.float16, "F64": np.float64}[dt]).astype(np.float64)
            else:
                a = None
            out.append((name, dt, a))
    return out


def reference(path):
    tensors = [(n, a) for n, dt, a in read_checkpoint(path) if a is not None and a.size > 0 and n.endswith((".weight", ".bias"))]
    flat = np.concatenate([a for _, a in tensors])
    n = flat.size
    order = np.argsort(np.abs(flat), kind="stable")     # ties: the earlier tensor, then the lower index
    squares = flat[order] ** 2
    prefix = np.concatenate([[0.0], np.cumsum(squares)])
    total = prefix[-1]
    def count(r):
        return min(n, max(0, int(math.floor(r * n + 0.5))))
    curve = []
    for i in range(101):
        r = i / 100
        kept = total - prefix[count(r)]
        curve.append((r, math.sqrt(kept / total) if total > 0 and kept > 0 else 0.0))
    def distance(p):
        return math.sqrt((1 - p[1]) ** 2 + (1 - p[0]) ** 2)
    best = curve[0]
    for p in curve[1:]:
        if distance(p) < distance(best):
            best = p
    optimal = best[0]
    kurt = {}
    for name, a in tensors:
        mu = a.mean()
        m2 = ((a - mu) ** 2).mean()
        if m2 > 0:
            kurt[name] = ((a - mu) ** 4).mean() / m2 ** 2
    ks = np.array(list(kurt.values()))
    k2 = ((ks - ks.mean()) ** 4).mean() / ((ks - ks.mean()) ** 2).mean() ** 2
    safe = min(optimal, max(0.0, optimal / (math.log(k2) if k2 >= math.e else math.log2(k2))))
    sparsity = {}
    for label, r in (("optimal", optimal), ("safe", safe)):
        pruned = np.zeros(n, dtype=bool)
        pruned[order[:count(r)]] = True
        at = 0
        for name, a in tensors:
            sparsity[(name, label)] = pruned[at:at + a.size].mean()
            at += a.size
    return dict(curve=curve, optimal=optimal, k2=k2, safe=safe, kurtosis=kurt, sparsity=sparsity, n=n)


def check(path, out):
    ref = reference(path)
    summary = json.load(open(f"{out}/summary.json"))
    problems = []
    def close(what, a, b, rel):
        if not (abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)):
            problems.append(f"{what}: prunesweep {a!r}, reference {b!r}")
    if summary["optimal"] != ref["optimal"]:
        problems.append(f"optimal: prunesweep {summary['optimal']}, reference {ref['optimal']}")
    close("K2", summary["k2"], ref["k2"], 1e-9)
    close("safe", summary["safe"], ref["safe"], 1e-9)
    if summary["parametersInScope"] != ref["n"]:
        problems.append(f"parameters in scope: {summary['parametersInScope']} vs {ref['n']}")
    for line in open(f"{out}/curve.csv").read().split("\n")[1:]:
        if line:
            r, c = map(float, line.split(","))
            close(f"cosine at {r}", c, ref["curve"][round(r * 100)][1], 1e-12)
    import csv
    for row in csv.DictReader(open(f"{out}/tensors.csv")):
        name = row["name"]
        if name in ref["kurtosis"]:
            close(f"kurtosis {name}", float(row["kurtosis"]), ref["kurtosis"][name], 1e-9)
        for label in ("optimal", "safe"):
            if (name, label) in ref["sparsity"]:
                close(f"sparsity of {name} at {label}", float(row[f"sparsity_{label}"]), ref["sparsity"][(name, label)], 1e-15)
    # the output never holds NaN
    for f in ("summary.json", "curve.csv", "tensors.csv", "tensors.md"):
        if "nan" in open(f"{out}/{f}").read().lower():
            problems.append(f"{f} holds NaN")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


def raw_tensors(path):
    """name -> (dtype, shape, bytes, file name) and file name -> metadata, as stored."""
    out, meta = {}, {}
    files = [path] if os.path.isfile(path) else [f"{path}/{f}" for f in sorted(os.listdir(path)) if f.endswith(".safetensors")]
    for f in files:
        raw = open(f, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        meta[os.path.basename(f)] = header.pop("__metadata__", {})
        for name, e in header.items():
            b, end = e["data_offsets"]
            out[name] = (e["dtype"], e["shape"], raw[8 + n + b:8 + n + end], os.path.basename(f))
    return out, meta


def check_prune(path, out, ratio):
    """The pruned checkpoint: same layout, names, dtypes, shapes and metadata; exactly the
    reference's round(r n) smallest magnitudes zeroed (ties: earlier tensor, lower index),
    masks saying so, everything else bit for bit."""
    ref = reference(path)
    r = ref["optimal"] if ratio == "optimal" else float(ratio)
    tensors = [(n, a) for n, dt, a in read_checkpoint(path) if a is not None and a.size > 0 and n.endswith((".weight", ".bias"))]
    flat = np.concatenate([a for _, a in tensors])
    k = min(flat.size, max(0, int(math.floor(r * flat.size + 0.5))))
    pruned = np.zeros(flat.size, dtype=bool)
    pruned[np.argsort(np.abs(flat), kind="stable")[:k]] = True
    want, at = {}, 0
    for name, a in tensors:
        want[name] = pruned[at:at + a.size]
        at += a.size
    before, meta_before = raw_tensors(path)
    after, meta_after = raw_tensors(out)
    masks, _ = raw_tensors(f"{out}/masks")
    problems = []
    if sorted(before) != sorted(after):
        problems.append("tensor names differ")
    if sorted(meta_before) != sorted(meta_after):
        problems.append(f"files differ: {sorted(meta_before)} vs {sorted(meta_after)}")
    for f, m in meta_before.items():
        if any(meta_after.get(f, {}).get(key) != v for key, v in m.items()) or meta_after.get(f, {}).get("prune_method") != "l1":
            problems.append(f"{f}: metadata {meta_after.get(f)} does not keep {m} and add the provenance")
    zeroed = 0
    for name, (dt, shape, data, f) in before.items():
        dt2, shape2, data2, f2 = after[name]
        if (dt, shape, f) != (dt2, shape2, f2):
            problems.append(f"{name}: {dt} {shape} in {f} became {dt2} {shape2} in {f2}")
            continue
        if name not in want:
            if data != data2:
                problems.append(f"{name}: out of scope but changed")
            continue
        size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}[dt]
        old = np.frombuffer(data, np.dtype(f"V{size}"))
        new = np.frombuffer(data2, np.dtype(f"V{size}"))
        zero = np.frombuffer(b"\0" * size, np.dtype(f"V{size}"))[0]
        mask = np.frombuffer(masks[name][2], np.uint8)
        if not np.array_equal(mask == 0, want[name]):
            problems.append(f"{name}: mask differs from the reference's prune in {int(np.sum((mask == 0) != want[name]))} places")
        if not (np.all(new[want[name]] == zero) and np.array_equal(new[~want[name]], old[~want[name]])):
            problems.append(f"{name}: pruned entries not zero or kept entries changed")
        zeroed += int(np.sum(mask == 0))
    if zeroed != k:
        problems.append(f"{zeroed} entries pruned, round(r n) = {k}")
    if os.path.exists(f"{path}/model.safetensors.index.json") and open(f"{path}/model.safetensors.index.json").read() != open(f"{out}/model.safetensors.index.json").read():
        problems.append("index differs")
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "check": lambda: check(sys.argv[2], sys.argv[3]),
     "check-prune": lambda: check_prune(sys.argv[2], sys.argv[3], sys.argv[4])}[sys.argv[1]]()
