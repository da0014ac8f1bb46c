#!/usr/bin/env python3
"""The PyTorch reference for `prunesweep bench train`: the same models and loop
on CPU. LeNet5 (conv 1->6 k5 pad 2, maxpool 2, conv 6->16 k5, maxpool 2,
fc 400-120-84-10, ReLU), an MLP 784-W1-...-10, resnet20, resnet18 or vgg11_bn
(docs/architectures.md; images zero-padded to 32x32); SGD lr 0.01 momentum 0.9;
shuffled batches from the first IMAGES Fashion-MNIST training images; a
4-batch warm-up, then the median images/s of REPEATS timed passes.

PyTorch is not a prunesweep dependency; install it for this benchmark only:
    python3 -m venv /opt/torch-bench && /opt/torch-bench/bin/pip install torch numpy
"""
import argparse
import gzip
import statistics
import time

import numpy as np
import torch
from torch import nn


def load_images(directory, n):
    with gzip.open(f"{directory}/train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(f"{directory}/train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.from_numpy(images.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, with a projection shortcut when the shape changes."""
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """The CIFAR ResNets: 3x3 stem, stages of BasicBlocks, global average pool, fc; 28x28 input zero-padded to 32."""
    def __init__(self, stem, stages, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        blocks, width = [], stem
        for i, (w, n, stride) in enumerate(stages):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(width, w, stride if b == 0 else 1))
                width = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
            blocks.append(f"layer{i + 1}")
        self.blocks = blocks
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(nn.functional.pad(x.view(-1, 1, 28, 28), (2, 2, 2, 2)))))
        for name in self.blocks:
            x = getattr(self, name)(x)
        return self.fc(x.mean((2, 3)))


def vgg(config, classes=10):
    layers, width = [nn.Unflatten(1, (1, 28, 28)), nn.ZeroPad2d(2)], 1
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(width, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            width = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width, classes))


def model(arch):
    if arch == "resnet20":
        return ResNet(16, [(16, 3, 1), (32, 3, 2), (64, 3, 2)])
    if arch == "resnet18":
        return ResNet(64, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)])
    if arch == "vgg11_bn":
        return vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"])
    if arch == "lenet5":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    assert arch.startswith("mlp:"), f"unknown architecture {arch!r}: expected lenet5 or mlp:W1,W2,..."
    widths = [784] + [int(w) for w in arch[4:].split(",")]
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], 10))


def epoch(net, opt, x, y, batch, seed):
    """One pass in shuffled batches; images/s, counting the loss and accuracy as the Swift loop does."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    total, correct = 0.0, 0
    for i in range(0, len(y), batch):
        idx = order[i:i + batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=False)
        logits = net(xb)
        loss = nn.functional.cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
    return len(y) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="lenet5")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--images", type=int, default=15360)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = load_images(a.data, a.images)
    net = model(a.arch)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    epoch(net, opt, x[:4 * a.batch], y[:4 * a.batch], a.batch, seed=0)  # warm-up
    rate = statistics.median(epoch(net, opt, x, y, a.batch, seed=r) for r in range(a.repeats))
    print(f"torch {torch.__version__} {a.arch} batch {a.batch} threads {a.threads}: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
