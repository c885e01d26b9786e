"""Which label-free encoder makes the second feature space: each candidate beside the classifier.

For each space it prints the share of the features' variance that lies within a class (how
much a space sees besides the class), the sensitivity table (real test images damaged step by
step) and the FD of the shipped unconditional generators.

    python -m gan_helpers train-encoder --method contrastive --output runs/contrastive.pt
    python -m gan_helpers train-encoder --method autoencoder --output runs/autoencoder.pt
    python benchmarks/feature_spaces.py runs/contrastive.pt runs/autoencoder.pt
"""

from __future__ import annotations

import argparse
import time

from gan_helpers.data import load_fashion_mnist, take_subset
from gan_helpers.encoder import load_encoder
from gan_helpers.evaluation import Reference, extract_features
from gan_helpers.metrics import frechet_distance
from gan_helpers.sampling import metric_samples
from gan_helpers.sensitivity import format_sensitivity, sensitivity_table, within_class_share
from gan_helpers.weights import load_pretrained


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("encoders", nargs="+", help="encoder weights files written by train-encoder")
    parser.add_argument("--count", type=int, default=2_000, help="images per set (default 2000)")
    args = parser.parse_args()
    started = time.perf_counter()
    spaces = {"classifier": Reference.build(count=args.count, seed=0)}
    for path in args.encoders:
        network = load_encoder(path)
        name = f"{network.method}"
        spaces[name] = Reference.build(count=args.count, seed=0, space="encoder", network=network)
        spaces[name].space = name  # the table's column name
    test = take_subset(load_fashion_mnist(train=False), args.count, seed=0)
    print(f"{'space':<14}{'variance within a class':>26}")
    for name, reference in spaces.items():
        share = within_class_share(extract_features(reference.network, test.images), test.labels)
        print(f"{name:<14}{share:>26.3f}")
    rows = sensitivity_table(list(spaces.values()), args.count)
    print("\n" + format_sensitivity(rows, list(spaces)))
    print(f"\nshipped generators, {args.count} samples, FD in each space")
    for kind in ("mlp", "dcgan", "wgan-gp"):
        images = metric_samples(load_pretrained(kind), args.count, seed=0)
        cells = "".join(
            f"{frechet_distance(r.features(images), r.train_features):>14.2f}" for r in spaces.values()
        )
        print(f"{kind:<14}{cells}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
