"""The ``portanet`` command: ``portanet demo`` trains on the bundled digits."""

import argparse
import sys
import time


def _demo(args):
    import portanet as pn
    from portanet.datasets import digits
    if args.backend:
        pn.set_backend(args.backend)
    backend = pn.backend.current()
    pn.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    print(f"portanet {pn.__version__} demo: {args.model} on the bundled 8x8 digits "
          f"({len(x_train)} train / {len(x_test)} test images), backend {backend.name}")
    if args.model == "mlp":
        model = pn.Sequential([
            pn.Input((8, 8)),
            pn.layers.Flatten(),
            pn.layers.Dense(128, activation="relu"),
            pn.layers.Dropout(0.1),
            pn.layers.Dense(10, activation="softmax"),
        ])
        x_train_in, x_test_in = x_train, x_test
    else:
        model = pn.Sequential([
            pn.Input((8, 8, 1)),
            pn.layers.Conv2D(32, 3, activation="relu", padding="same"),
            pn.layers.MaxPooling2D(2),
            pn.layers.Conv2D(64, 3, activation="relu", padding="same"),
            pn.layers.MaxPooling2D(2),
            pn.layers.Flatten(),
            pn.layers.Dense(64, activation="relu"),
            pn.layers.Dense(10, activation="softmax"),
        ])
        x_train_in, x_test_in = x_train[..., None], x_test[..., None]
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train_in, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, verbose=args.verbose, diagnostics=args.diagnostics)
    elapsed = time.perf_counter() - start
    if args.plot:
        pn.utils.plot_history(history, args.plot)
        print(f"curves written to {args.plot}")
    loss, acc = model.evaluate(x_test_in, y_test, verbose=0)
    print(f"trained {args.epochs} epochs in {elapsed:.1f}s; test loss: {loss:.4f}")
    print(f"test accuracy: {acc:.3f}")
    return 0


def _positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="portanet", description="portanet: a Keras-style trainer on the Array API")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small network on the bundled 8x8 digits")
    demo.add_argument("--backend", choices=["numpy", "array_api_strict", "cupy"], default=None,
                      help="array backend (default: $PORTANET_BACKEND or numpy)")
    demo.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    demo.add_argument("--epochs", type=_positive, default=20)
    demo.add_argument("--batch-size", type=_positive, default=32)
    demo.add_argument("--learning-rate", type=float, default=1e-3)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, choices=[0, 1, 2], default=2)
    demo.add_argument("--plot", default=None, help="write the training curves to this PNG")
    demo.add_argument("--diagnostics", action="store_true",
                      help="check gradients, update sizes, saturation and the loss each epoch")
    demo.set_defaults(func=_demo)
    from . import bench_cli
    bench_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as exc:
        print(f"portanet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
