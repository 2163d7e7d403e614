"""Regenerate the README's figures from the demo's data (the bundled 8x8 digits):

    python docs/make_figures.py

docs/curves.png: the curves of `portanet demo` (MLP, Adam 1e-3, 20 epochs, seed 0).
docs/lr_range.png: the learning-rate range test on the same untrained MLP.
"""

import os
import sys

import portanet as pn
from portanet import cli
from portanet.datasets import digits

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    cli.main(["demo", "--verbose", "0", "--plot", os.path.join(HERE, "curves.png")])
    pn.utils.clear_session()
    pn.utils.set_random_seed(0)
    (x, y), _ = digits.load_data()
    model = pn.Sequential([pn.Input((8, 8)), pn.layers.Flatten(), pn.layers.Dense(128, activation="relu"),
                           pn.layers.Dropout(0.1), pn.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=pn.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    result = pn.utils.find_learning_rate(model, x, y, min_lr=1e-6, max_lr=1.0, steps=100,
                                         plot=os.path.join(HERE, "lr_range.png"))
    print(f"range test: suggested {result.suggested:.3g}, lowest loss at {result.min_loss_rate:.3g}, "
          f"diverged at {result.diverged_at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
