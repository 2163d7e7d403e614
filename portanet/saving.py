"""Model files: safe, atomic save and load (filled in by the saving issue)."""


def save_model(model, filepath, overwrite=True):
    raise RuntimeError("saving is not available yet in this build")


def load_model(filepath, custom_objects=None, compile=True):
    raise RuntimeError("loading is not available yet in this build")


def save_weights(model, filepath, overwrite=True):
    raise RuntimeError("saving is not available yet in this build")


def load_weights(model, filepath, skip_mismatch=False):
    raise RuntimeError("loading is not available yet in this build")
