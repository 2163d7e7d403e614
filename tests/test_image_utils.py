"""pn.utils image utilities (load_img, img_to_array, array_to_img, save_img, smart_resize,
image_dataset_from_directory) and pn.preprocessing.image: Keras 3.15.1's file order and
resize numbers (stored by tests/keras_reference/make_augment_reference.py), Keras's messages,
label modes, splits, Pillow's absence, and a model fit on the dataset."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
from make_augment_reference import DIRECTORY_TREE, INDEX_SEED, RESIZE_CASES  # noqa: E402

Image = pytest.importorskip("PIL.Image")
REF = np.load(HERE / "augment.npz")
U = pn.utils


def _tree(root, files=DIRECTORY_TREE, image=None):
    for sub, names in files.items():
        for name in names:
            path = pathlib.Path(root, sub, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            if image is None:
                path.write_bytes(b"")
            else:
                fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix, None)
                Image.fromarray(image).save(path, format=fmt or path.suffix[1:].upper())
    return root


def test_file_order_labels_and_messages_equal_keras(backend, tmp_path, capsys):
    from portanet.utils.image_utils import ALLOWLIST_FORMATS, index_directory
    _tree(tmp_path)
    for shuffle in (False, True):
        paths, labels, names = index_directory(str(tmp_path), "inferred", ALLOWLIST_FORMATS,
                                               shuffle=shuffle, seed=INDEX_SEED)
        rel = [str(pathlib.Path(p).relative_to(tmp_path)) for p in paths]
        assert rel == list(REF[f"utils/index_{shuffle}/paths"])
        assert list(labels) == list(REF[f"utils/index_{shuffle}/labels"])
        assert names == list(REF[f"utils/index_{shuffle}/class_names"])
    assert "Found 7 files belonging to 3 classes." in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_decoded_and_resized_images_equal_keras(backend, tmp_path, case):
    image = REF["utils/image"]
    _tree(tmp_path, {"only": ["img.png"]}, image=image)
    kw = dict(RESIZE_CASES[case])
    ds = U.image_dataset_from_directory(str(tmp_path), image_size=(5, 6), batch_size=1,
                                        shuffle=False, verbose=False, **kw)
    x, y = ds[0]
    assert x.dtype == np.float32 and y.dtype == np.int32 and list(y) == [0]
    np.testing.assert_allclose(x[0], REF[f"utils/resize_{case}"], rtol=1e-5, atol=1e-3)


def _classes(root, n=6, size=(12, 10)):
    """Two classes: dark and bright images (class is learnable from the mean)."""
    rng = np.random.default_rng(0)
    for k, (name, lo) in enumerate((("dark", 0), ("bright", 150))):
        folder = pathlib.Path(root, name)
        folder.mkdir(parents=True)
        for i in range(n):
            a = rng.integers(lo, lo + 100, size + (3,)).astype("uint8")
            Image.fromarray(a).save(folder / f"{i}.png")
    return str(root)


def test_label_modes_batches_and_class_names(backend, tmp_path, capsys):
    root = _classes(tmp_path)
    ds = U.image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=1)
    assert "Found 12 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["bright", "dark"] and len(ds) == 3 and len(ds.file_paths) == 12
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(4, 8, 8, 3)] * 3
    labels = np.concatenate([b[1] for b in batches])
    assert labels.dtype == np.int32 and sorted(labels) == [0] * 6 + [1] * 6
    for x, y in batches:                          # labels follow their images
        np.testing.assert_array_equal(x.mean(axis=(1, 2, 3)) > 120, y == 0)
    cat = U.image_dataset_from_directory(root, label_mode="categorical", image_size=(8, 8),
                                         batch_size=5, shuffle=False, verbose=False)
    x, y = cat[2]
    assert x.shape == (2, 8, 8, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 1], [0, 1]])
    binary = U.image_dataset_from_directory(root, label_mode="binary", image_size=(8, 8),
                                            shuffle=False, verbose=False)
    assert binary[0][1].shape == (12, 1) and binary[0][1].dtype == np.float32
    only = U.image_dataset_from_directory(root, labels=None, image_size=(8, 8), batch_size=None,
                                          color_mode="grayscale", shuffle=False, verbose=False)
    assert only[0].shape == (8, 8, 1) and only.class_names is None and len(only) == 12
    sub = U.image_dataset_from_directory(root, class_names=["dark"], image_size=(8, 8),
                                         color_mode="rgba", data_format="channels_first",
                                         verbose=False)
    assert sub.class_names == ["dark"] and sub[0][0].shape == (6, 4, 8, 8)
    given = U.image_dataset_from_directory(root, labels=[3] * 6 + [5] * 6, image_size=(8, 8),
                                           shuffle=False, verbose=False)
    assert given.class_names == ["3", "5"] and list(given[0][1]) == [3] * 6 + [5] * 6


def test_validation_split_subsets(backend, tmp_path, capsys):
    root = _classes(tmp_path, n=5)
    train, val = U.image_dataset_from_directory(root, image_size=(8, 8), validation_split=0.3,
                                                subset="both", seed=7)
    out = capsys.readouterr().out
    assert "Using 7 files for training." in out and "Using 3 files for validation." in out
    assert len(train.file_paths) == 7 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    again = U.image_dataset_from_directory(root, image_size=(8, 8), validation_split=0.3,
                                           subset="validation", seed=7, verbose=False)
    assert again.file_paths == val.file_paths
    # every epoch reshuffles the training batches, seeded
    first = [p for p in train.file_paths]
    order0 = list(train._order)
    train.on_epoch_end()
    assert train.file_paths == first and list(train._order) != order0


def test_bad_arguments(backend, tmp_path):
    root = _classes(tmp_path, n=2)
    f = U.image_dataset_from_directory
    with pytest.raises(ValueError, match="seed"):
        f(root, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="validation_split"):
        f(root, subset="training", seed=1)
    with pytest.raises(ValueError, match="label_mode"):
        f(root, label_mode="sparse")
    with pytest.raises(ValueError, match="color_mode"):
        f(root, color_mode="cmyk")
    with pytest.raises(ValueError, match="image_size"):
        f(root, image_size=(8,))
    with pytest.raises(ValueError, match="interpolation"):
        f(root, interpolation="area")
    with pytest.raises(ValueError, match="class_names"):
        f(root, class_names=["cats"])
    with pytest.raises(ValueError, match="exactly 2"):
        f(root, class_names=["dark"], label_mode="binary")
    with pytest.raises(ValueError, match="directory"):
        f(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="color_mode"):
        U.load_img(tmp_path / "dark" / "0.png", color_mode="hsv")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:fit. the inputs are far from standardized")
def test_fit_on_an_image_directory(backend, tmp_path):
    pn.utils.set_random_seed(0)
    root = _classes(tmp_path, n=8)
    train = U.image_dataset_from_directory(root, image_size=(6, 6), batch_size=8, seed=3,
                                           verbose=False)
    model = pn.Sequential([pn.Input((6, 6, 3)), pn.layers.Rescaling(1 / 255),
                           pn.layers.RandomFlip(seed=1), pn.layers.Conv2D(2, 3),
                           pn.layers.GlobalAveragePooling2D(), pn.layers.Dense(2)])
    model.compile(optimizer=pn.optimizers.Adam(0.05),
                  loss=pn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(train, epochs=12, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert model.evaluate(train, verbose=0)[1] == 1.0
    assert model.predict(train, verbose=0).shape == (16, 2)


def test_load_save_and_array_conversions(backend, tmp_path):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (6, 8, 3)).astype("float32")
    U.save_img(tmp_path / "a.png", a, scale=False)
    img = U.load_img(tmp_path / "a.png")
    assert img.mode == "RGB" and img.size == (8, 6)
    x = U.img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (6, 8, 3)
    np.testing.assert_array_equal(x, a)
    np.testing.assert_array_equal(U.img_to_array(img, data_format="channels_first"),
                                  np.transpose(a, (2, 0, 1)))
    gray = U.load_img(tmp_path / "a.png", color_mode="grayscale", target_size=(3, 4))
    assert gray.mode == "L" and U.img_to_array(gray).shape == (3, 4, 1)
    crop = U.load_img(tmp_path / "a.png", target_size=(6, 6), keep_aspect_ratio=True,
                      interpolation="nearest")
    np.testing.assert_array_equal(U.img_to_array(crop), a[:, 1:7])
    # array_to_img scales min..max to 0..255 (Keras)
    scaled = U.img_to_array(U.array_to_img(a / 255.0 * 2 - 1))
    np.testing.assert_allclose(scaled, np.floor((a - a.min()) / (a.max() - a.min()) * 255),
                               atol=1.0)
    dev = pn.backend.current().asarray(a)                   # a backend array also converts
    np.testing.assert_array_equal(U.img_to_array(U.array_to_img(dev, scale=False)), a)
    with pytest.warns(UserWarning, match="RGBA"):
        U.save_img(tmp_path / "b.jpg", np.concatenate([a, a[..., :1]], axis=-1))
    assert U.load_img(tmp_path / "b.jpg").size == (8, 6)
    with pytest.raises(ValueError, match="rank 3"):
        U.array_to_img(a[None])
    assert pn.preprocessing.image.load_img is U.load_img
    assert pn.preprocessing.image_dataset_from_directory is U.image_dataset_from_directory
    small = pn.preprocessing.image.smart_resize(a, (4, 4))
    expected = pn.layers.Resizing(4, 4, crop_to_aspect_ratio=True)(a[None])
    np.testing.assert_allclose(small, to_np(pn.backend.current(), expected)[0], rtol=1e-6)


def test_missing_pillow_names_the_extra(backend, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "portanet\[image\]"'):
        U.load_img(tmp_path / "x.png")
    with pytest.raises(ImportError, match="Pillow"):
        U.image_dataset_from_directory(str(tmp_path))
