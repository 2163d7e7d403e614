"""Hinge metrics (keras/src/metrics/hinge_metrics.py): Hinge, SquaredHinge, CategoricalHinge."""

from .reduction_metrics import _loss_fn, _wrapper_class


hinge = _loss_fn("hinge")
squared_hinge = _loss_fn("squared_hinge")
categorical_hinge = _loss_fn("categorical_hinge")


Hinge = _wrapper_class("Hinge", hinge, "hinge", "Mean hinge loss.")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge", "Mean squared hinge loss.")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                  "Mean categorical hinge loss.")
