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


def train(model, data, epochs: int, batch_size: int, seed: int):
    """Adam on cross-entropy; returns (test accuracy, seconds per epoch, final training loss)."""
    x_train, y_train, x_test, y_test = data
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(seed)
    seconds, loss = [], float("nan")
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(batch_size):
            optimizer.zero_grad()
            batch_loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            batch_loss.backward()
            optimizer.step()
            loss = batch_loss.item()
        seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    # The first epoch carries one-time costs (JIT caches, plans): report the typical one.
    return accuracy, float(np.median(seconds)), loss


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=fastconv.get_num_threads())
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

    results = {}
    print(f"digits: {len(data[0])} train / {len(data[2])} test images, {epochs} epochs, "
          f"batch {args.batch_size}, {args.threads} threads")
    for name, model in (("fastconv.torch.Conv2d", ours), ("torch.nn.Conv2d", reference)):
        accuracy, per_epoch, loss = train(model, data, epochs, args.batch_size, args.seed)
        results[name] = {"accuracy": accuracy, "seconds_per_epoch": per_epoch, "loss": loss}
        print(f"{name:22s} test accuracy {accuracy:7.2%}   {per_epoch * 1e3:7.1f} ms/epoch   "
              f"final batch loss {loss:.4f}")
    ratio = (results["torch.nn.Conv2d"]["seconds_per_epoch"]
             / results["fastconv.torch.Conv2d"]["seconds_per_epoch"])
    print(f"fastconv / torch speed (time per epoch ratio, > 1: fastconv faster): {ratio:.2f}")
    return results


if __name__ == "__main__":
    main()
