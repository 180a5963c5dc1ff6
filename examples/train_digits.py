"""Train a small CNN on scikit-learn's digits (8x8 images, bundled: no download) twice: with
fastconv.torch.Conv2d and with torch.nn.Conv2d, from the same initial weights and the same batch
order, and print test accuracy and time per epoch of each.

    python examples/train_digits.py            # 12 epochs
    python examples/train_digits.py --quick    # 3 epochs, a few seconds (run by the tests)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fastconv
import fastconv.torch


def make_model(conv) -> torch.nn.Sequential:
    """Two 3x3 convolutions, a 2x2 max-pool and a linear classifier; ``conv`` builds the
    convolution layers (fastconv.torch.Conv2d or torch.nn.Conv2d: same arguments)."""
    return torch.nn.Sequential(
        conv(1, 16, 3, padding=1), torch.nn.ReLU(),
        conv(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),                        # 32 x 4 x 4
        torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10))


def load_data(seed: int):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=seed, stratify=digits.target)
    return (torch.from_numpy(x_train), torch.from_numpy(y_train),
            torch.from_numpy(x_test), torch.from_numpy(y_test))


class Trainer:
    """Adam on cross-entropy for one model, one epoch at a time (so that two models can take
    turns: on a shared machine, interleaved epochs see the same load)."""

    def __init__(self, model, data, batch_size: int, seed: int):
        self.model, self.data, self.batch_size = model, data, batch_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        self.order = torch.Generator().manual_seed(seed)  # the same batches for both models
        self.seconds: list[float] = []
        self.loss = float("nan")

    def epoch(self) -> None:
        x_train, y_train = self.data[:2]
        start = time.perf_counter()
        self.model.train()
        for idx in torch.randperm(len(x_train), generator=self.order).split(self.batch_size):
            self.optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.model(x_train[idx]), y_train[idx])
            loss.backward()
            self.optimizer.step()
            self.loss = loss.item()
        self.seconds.append(time.perf_counter() - start)

    def accuracy(self) -> float:
        x_test, y_test = self.data[2:]
        self.model.eval()
        with torch.no_grad():
            return (self.model(x_test).argmax(1) == y_test).float().mean().item()

    def seconds_per_epoch(self) -> float:
        # The first epoch carries one-time costs (imports, caches): report the typical one.
        return float(np.median(self.seconds))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    # One thread by default: 8x8 images make layers of a few MFLOP, too small to pay for
    # waking a thread team (and a team is hurt most when other processes share the cores).
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for torch and fastconv alike (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 epochs (CI)")
    args = parser.parse_args(argv)
    epochs = 3 if args.quick else args.epochs
    torch.set_num_threads(args.threads)
    fastconv.set_num_threads(args.threads)

    data = load_data(args.seed)
    torch.manual_seed(args.seed)
    reference = make_model(torch.nn.Conv2d)
    ours = make_model(fastconv.torch.Conv2d)
    ours.load_state_dict(reference.state_dict())  # same start: the layers are interchangeable

    print(f"digits: {len(data[0])} train / {len(data[2])} test images, {epochs} epochs, "
          f"batch {args.batch_size}, {args.threads} thread(s)")
    trainers = {"fastconv.torch.Conv2d": Trainer(ours, data, args.batch_size, args.seed),
                "torch.nn.Conv2d": Trainer(reference, data, args.batch_size, args.seed)}
    for _ in range(epochs):
        for trainer in trainers.values():
            trainer.epoch()
    results = {}
    for name, trainer in trainers.items():
        accuracy, per_epoch = trainer.accuracy(), trainer.seconds_per_epoch()
        results[name] = {"accuracy": accuracy, "seconds_per_epoch": per_epoch,
                         "loss": trainer.loss}
        print(f"{name:22s} test accuracy {accuracy:7.2%}   {per_epoch * 1e3:7.1f} ms/epoch   "
              f"final batch loss {trainer.loss:.4f}")
    ratio = (results["torch.nn.Conv2d"]["seconds_per_epoch"]
             / results["fastconv.torch.Conv2d"]["seconds_per_epoch"])
    print(f"fastconv / torch speed (time per epoch ratio, > 1: fastconv faster): {ratio:.2f}")
    return results


if __name__ == "__main__":
    main()
