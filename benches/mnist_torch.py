#!/usr/bin/env python3
"""The course notes' MNIST recipe in PyTorch, for side-by-side comparison with `gradschool mnist`.

The model, training and test loops are the notes' code (FeedForwardNet 784-256-128-64-10, ReLU,
dropout 0.2, log_softmax, F.nll_loss, SGD lr 0.01, batch 64, test batch 1000, 15 epochs,
torchvision MNIST/FashionMNIST with ToTensor + Normalize((0.1307,), (0.3081,))). One deliberate
difference: the training loader shuffles (the notes shuffle only when CUDA is present; gradschool
always shuffles). Prints per-epoch seconds (training only, like gradschool's train_seconds), test
accuracy, and writes a metrics CSV in gradschool's format.

    .venv-ref/bin/python benches/mnist_torch.py --data-dir /usr/share/datasets/fashion-mnist --fashion
"""
import argparse
import os
import shutil
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms

p = argparse.ArgumentParser()
p.add_argument("--data-dir", required=True, help="directory with the four IDX .gz files")
p.add_argument("--fashion", action="store_true", help="the files are Fashion-MNIST")
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--metrics", default=None, help="write a gradschool-format metrics.csv here")
p.add_argument("--device", default="cpu", help="cpu or cuda")
p.add_argument("--lazy-loss", action="store_true",
               help="sum the losses on the device and read them once per epoch (and at log steps), as "
                    "gradschool's trainer does, instead of loss.item() every step")
p.add_argument("--preload", action="store_true",
               help="keep the normalised training set on the device and slice shuffled batches from it "
                    "(the fastest eager loop; without it, torchvision's DataLoader as in the course)")
args = p.parse_args()
torch.set_num_threads(args.threads)


# ANCHOR: model
class FeedForwardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(p=0.2)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        x = self.dropout(F.relu(self.fc3(x)))
        return F.log_softmax(self.fc4(x), dim=1)
# ANCHOR_END: model


# torchvision expects <root>/<Class>/raw/<files>; stage the .gz files there.
root = tempfile.mkdtemp()
cls = datasets.FashionMNIST if args.fashion else datasets.MNIST
raw = os.path.join(root, cls.__name__, "raw")
os.makedirs(raw)
for name in os.listdir(args.data_dir):
    src = os.path.join(args.data_dir, name)
    if name.endswith(".gz"):
        import gzip
        with gzip.open(src) as f, open(os.path.join(raw, name[:-3]), "wb") as g:
            shutil.copyfileobj(f, g)
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_set = cls(root, train=True, download=False, transform=transform)
test_set = cls(root, train=False, download=False, transform=transform)
torch.manual_seed(args.seed)
train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
device = torch.device(args.device)


class PreloadedBatches:
    """The training set as one normalised tensor on the device, batches cut from a fresh random
    permutation each epoch (same batch size, shuffle and last partial batch as the DataLoader)."""

    def __init__(self, ds, batch_size):
        self.x = ((ds.data.float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1).to(device)
        self.y = ds.targets.to(device)
        self.batch_size = batch_size

    def __len__(self):
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        perm = torch.randperm(len(self.y), device=device)
        for i in range(0, len(self.y), self.batch_size):
            idx = perm[i:i + self.batch_size]
            yield self.x[idx], self.y[idx]


if args.preload:
    train_loader = PreloadedBatches(train_set, args.batch_size)
model = FeedForwardNet().to(device)
optimizer = optim.SGD(model.parameters(), lr=args.lr)

rows, step = [], 0
for epoch in range(1, args.epochs + 1):
    model.train()
    t0 = time.perf_counter()
    total = 0.0
    # ANCHOR: loop
    for batch_idx, (x, y) in enumerate(train_loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        total += loss.detach() if args.lazy_loss else loss.item()
        if batch_idx % 100 == 0:
            rows.append(f"{epoch},{step},{loss.item()},,,")
    # ANCHOR_END: loop
    total = float(total)
    seconds = time.perf_counter() - t0
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for x, y in test_loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            test_loss += F.nll_loss(out, y, reduction="sum").item()
            correct += out.argmax(dim=1).eq(y).sum().item()
    test_loss /= len(test_set)
    acc = correct / len(test_set)
    rows.append(f"{epoch},{step},{args.lr},{total / len(train_loader)},{test_loss},{acc},{seconds}")
    print(f"epoch {epoch:>3}/{args.epochs}  train loss {total / len(train_loader):.4f}  test loss {test_loss:.4f}  "
          f"test accuracy {100 * acc:.2f}%  ({seconds:.2f} s)", flush=True)
if args.metrics:
    with open(args.metrics, "w") as f:
        f.write("epoch,step,lr,train_loss,test_loss,test_accuracy,train_seconds\n" + "\n".join(rows) + "\n")
shutil.rmtree(root)
print(f"test_accuracy={acc:.4f}")
