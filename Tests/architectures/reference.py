#!/usr/bin/env python3
"""An independent numpy reference for resnet20 (float64, eval mode), and files
as Python's safetensors writes them: small CIFAR-10 binary files and a
torchvision-named resnet20 state_dict without prunesweep's metadata.

  reference.py make DIR            CIFAR-10 files and resnet20.safetensors in DIR
  reference.py logits DIR OUT      prunesweep's logits (OUT) against numpy's: max |diff| <= 1e-4
  reference.py names FILE ARCH     FILE has exactly torchvision's tensor names, shapes and dtypes for ARCH
"""
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

STAGES = {"resnet20": (16, [(16, 3, 1), (32, 3, 2), (64, 3, 2)]),
          "resnet18": (64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)])}


def resnet_shapes(arch, channels=3, classes=10):
    """torchvision's state_dict entries of a CIFAR ResNet, in order: (name, shape, dtype)."""
    stem, stages = STAGES[arch]
    out = [("conv1.weight", (stem, channels, 3, 3), "float32")]

    def bn(name, c):
        return [(f"{name}.weight", (c,), "float32"), (f"{name}.bias", (c,), "float32"),
                (f"{name}.running_mean", (c,), "float32"), (f"{name}.running_var", (c,), "float32"),
                (f"{name}.num_batches_tracked", (), "int64")]
    out += bn("bn1", stem)
    width = stem
    for s, (w, blocks, stride) in enumerate(stages):
        for b in range(blocks):
            p, st = f"layer{s + 1}.{b}", stride if b == 0 else 1
            out += [(f"{p}.conv1.weight", (w, width, 3, 3), "float32")] + bn(f"{p}.bn1", w)
            out += [(f"{p}.conv2.weight", (w, w, 3, 3), "float32")] + bn(f"{p}.bn2", w)
            if st != 1 or width != w:
                out += [(f"{p}.downsample.0.weight", (w, width, 1, 1), "float32")] + bn(f"{p}.downsample.1", w)
            width = w
    return out + [("fc.weight", (classes, width), "float32"), ("fc.bias", (classes,), "float32")]


def make(d):
    rng = np.random.default_rng(7)
    for i in range(1, 6):   # 4 training records a file: labels then R, G, B planes
        recs = [bytes([int(rng.integers(10))]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for _ in range(4)]
        open(f"{d}/data_batch_{i}.bin", "wb").write(b"".join(recs))
    recs = [bytes([i % 10]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for i in range(6)]
    open(f"{d}/test_batch.bin", "wb").write(b"".join(recs))
    tensors = {}
    for name, shape, dtype in resnet_shapes("resnet20"):
        if dtype == "int64":
            tensors[name] = np.array(int(rng.integers(1, 1000)), dtype=np.int64)
        elif name.endswith("running_var"):
            tensors[name] = rng.uniform(0.5, 2, shape).astype(np.float32)
        elif name.endswith("running_mean") or name.endswith("bias"):
            tensors[name] = rng.normal(0, 0.2, shape).astype(np.float32)
        elif ".bn" in name or "downsample.1" in name or name.startswith("bn1"):
            tensors[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:]))
            tensors[name] = rng.normal(0, (2 / fan_in) ** 0.5, shape).astype(np.float32)
    save_file(tensors, f"{d}/resnet20.safetensors")


def cifar(path):
    raw = np.fromfile(path, np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64) / 255, raw[:, 0]


def conv(x, w, stride, pad):
    """Cross-correlation by its definition over taps: x [B, C, H, W], w [O, C, k, k]."""
    b, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    y = np.zeros((b, o, oh, ow))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            y += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
    return y


def bn(x, t, name):
    g, b = t[name + ".weight"], t[name + ".bias"]
    m, v = t[name + ".running_mean"], t[name + ".running_var"]
    return (x - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + 1e-5) * g[None, :, None, None] + b[None, :, None, None]


def resnet20(x, t):
    relu = lambda a: np.maximum(a, 0)
    x = relu(bn(conv(x, t["conv1.weight"], 1, 1), t, "bn1"))
    for s, (w, blocks, stride) in enumerate(STAGES["resnet20"][1]):
        for b in range(blocks):
            p, st = f"layer{s + 1}.{b}", stride if b == 0 else 1
            y = relu(bn(conv(x, t[p + ".conv1.weight"], st, 1), t, p + ".bn1"))
            y = bn(conv(y, t[p + ".conv2.weight"], 1, 1), t, p + ".bn2")
            short = bn(conv(x, t[p + ".downsample.0.weight"], st, 0), t, p + ".downsample.1") if p + ".downsample.0.weight" in t else x
            x = relu(y + short)
    return x.mean((2, 3)) @ t["fc.weight"].T + t["fc.bias"]


def logits(d, out):
    train = np.concatenate([cifar(f"{d}/data_batch_{i}.bin")[0] for i in range(1, 6)])
    mean, std = train.mean((0, 2, 3)), train.std((0, 2, 3))   # per channel, over the training split
    x = (cifar(f"{d}/test_batch.bin")[0] - mean[None, :, None, None]) / std[None, :, None, None]
    t = {k: v.astype(np.float64) for k, v in load_file(f"{d}/resnet20.safetensors").items()}
    ref, ours = resnet20(x, t), load_file(out)["logits"].astype(np.float64)
    diff = np.abs(ref - ours).max()
    print(f"max |logits - numpy| = {diff:.2e} (logits up to {np.abs(ref).max():.2f})")
    sys.exit(0 if ours.shape == ref.shape and diff <= 1e-4 else 1)


def names(path, arch):
    got = {k: (tuple(v.shape), str(v.dtype)) for k, v in load_file(path).items()}
    want = {n: (s, d) for n, s, d in resnet_shapes(arch, channels=1)}
    if got != want:
        print("missing:", sorted(set(want) - set(got))[:5], "extra:", sorted(set(got) - set(want))[:5],
              "differing:", [k for k in want if k in got and got[k] != want[k]][:5])
        sys.exit(1)


if __name__ == "__main__":
    {"make": make, "logits": logits, "names": names}[sys.argv[1]](*sys.argv[2:])
