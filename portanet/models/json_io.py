"""``Model.to_json`` and ``model_from_json`` (keras.models): the architecture as Keras 3's JSON.

The text is ``serialize_keras_object(model)`` dumped with ``json.dumps``: ``{"module",
"class_name", "config", "registered_name", "build_config"}``. Weights are not included
(``get_weights``/``set_weights`` or ``save`` carry them). Reading never imports or evaluates
anything named in the text (see ``portanet.serialization``).
"""

import json

from ..serialization import deserialize_keras_object, serialize_keras_object


def _json_default(obj):
    """Plain values json cannot write itself (tuples are lists already; numpy scalars)."""
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"to_json: {obj!r} ({type(obj).__name__}) is not JSON serializable")


def to_json(model, **kwargs):
    """The model's architecture as a JSON string; ``kwargs`` go to ``json.dumps`` (e.g. indent)."""
    return json.dumps(serialize_keras_object(model), default=_json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from ``Model.to_json``'s text, or Keras 3's.

    Args:
        json_string: the JSON text.
        custom_objects: ``{name: class or function}`` for user classes named in the text.

    Returns:
        The model, built when the text holds its input shape.
    """
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"model_from_json: json_string={type(json_string).__name__}; expected a str")
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_from_json: the text is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: expected a JSON object with 'class_name' and 'config'; got "
                         f"{type(config).__name__}")
    model = deserialize_keras_object(config, custom_objects=custom_objects)
    if not hasattr(model, "_forward_graph"):
        raise ValueError(f"model_from_json: the text describes a {type(model).__name__}, not a model")
    return model
