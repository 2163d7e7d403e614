"""Learning-rate schedules: the rate at several steps against Keras's formulas
(KERAS_REFERENCE.md §1, "Schedules"), serialization, and use inside an optimizer."""

import math

import numpy as np
import pytest

import portanet as pn
from portanet.layers.base import Variable
from portanet.optimizers import schedules as S

STEPS = [0, 1, 3, 5, 7, 10, 11, 25, 100]


def test_exponential_decay():
    s = S.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)
    for step in STEPS:
        assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 5), rel=1e-12)
    assert s(5) == pytest.approx(0.05) and s(10) == pytest.approx(0.025)
    stair = S.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5, staircase=True)
    assert [stair(k) for k in (0, 4, 5, 9, 10)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_inverse_time_decay():
    s = S.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5)
    for step in STEPS:
        assert s(step) == pytest.approx(1.0 / (1 + 0.5 * step / 2), rel=1e-12)
    stair = S.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)
    assert [stair(k) for k in (0, 1, 2, 3, 4)] == pytest.approx([1.0, 1.0, 1 / 1.5, 1 / 1.5, 0.5])


def test_piecewise_constant_decay_boundaries_are_inclusive_on_the_left_interval():
    s = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    got = [s(k) for k in (0, 10, 11, 20, 21, 1000)]
    assert got == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_polynomial_decay():
    s = S.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.1, power=2.0)
    for step in STEPS:
        sp = min(step, 10)
        assert s(step) == pytest.approx((1.0 - 0.1) * (1 - sp / 10) ** 2 + 0.1, rel=1e-12)
    assert s(5) == pytest.approx(0.9 * 0.25 + 0.1) and s(100) == pytest.approx(0.1)
    # Defaults: end 1e-4, power 1.
    d = S.PolynomialDecay(1.0, 10)
    assert d(5) == pytest.approx((1 - 1e-4) * 0.5 + 1e-4)


def test_polynomial_decay_cycle():
    s = S.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=1.0, cycle=True)
    # D' = D·ceil(s/D), 1 at step 0.
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(0.0)
    assert s(11) == pytest.approx(1 - 11 / 20)
    assert s(25) == pytest.approx(1 - 25 / 30)


def _f(x, alpha):
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * x)) + alpha


def test_cosine_decay():
    s = S.CosineDecay(0.5, decay_steps=10, alpha=0.1)
    for step in STEPS:
        assert s(step) == pytest.approx(0.5 * _f(min(step, 10) / 10, 0.1), rel=1e-12)
    assert s(0) == pytest.approx(0.5) and s(5) == pytest.approx(0.5 * (0.9 * 0.5 + 0.1))
    assert s(1000) == pytest.approx(0.05)


def test_cosine_decay_with_warmup():
    s = S.CosineDecay(0.0, decay_steps=10, alpha=0.0, warmup_target=1.0, warmup_steps=4)
    assert [s(k) for k in (0, 1, 2, 3)] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert s(4) == pytest.approx(1.0)
    assert s(9) == pytest.approx(_f(5 / 10, 0.0))
    assert s(14) == pytest.approx(0.0, abs=1e-15) and s(50) == pytest.approx(0.0, abs=1e-15)
    s2 = S.CosineDecay(0.1, decay_steps=10, alpha=0.2, warmup_target=0.5, warmup_steps=5)
    assert s2(2) == pytest.approx(0.1 + 0.4 * 2 / 5)
    assert s2(8) == pytest.approx(0.5 * _f(3 / 10, 0.2))


def test_cosine_decay_restarts():
    s = S.CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=2.0, m_mul=0.5, alpha=0.1)
    # Periods: [0, 4), [4, 12), [12, 28): restart i starts at 4·(2^i - 1).
    expected = {0: (0, 0.0), 2: (0, 0.5), 4: (1, 0.0), 8: (1, 0.5), 12: (2, 0.0), 20: (2, 0.5)}
    for step, (i, c) in expected.items():
        want = 1.0 * ((1 - 0.1) * 0.5 * 0.5 ** i * (1 + math.cos(math.pi * c)) + 0.1)
        assert s(step) == pytest.approx(want, rel=1e-12), step
    flat = S.CosineDecayRestarts(2.0, first_decay_steps=5, t_mul=1.0)
    assert [flat(k) for k in (0, 5, 10)] == pytest.approx([2.0, 2.0, 2.0])
    assert flat(7) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 2 / 5)))


ALL = [
    S.ExponentialDecay(0.1, 5, 0.5, staircase=True),
    S.InverseTimeDecay(0.1, 5, 0.5),
    S.PiecewiseConstantDecay([3, 6], [0.3, 0.2, 0.1]),
    S.PolynomialDecay(0.1, 10, 0.01, 2.0, cycle=True),
    S.CosineDecay(0.1, 10, alpha=0.1, warmup_target=0.3, warmup_steps=2),
    S.CosineDecayRestarts(0.1, 4, t_mul=1.5, m_mul=0.8, alpha=0.05),
]


@pytest.mark.parametrize("sched", ALL, ids=[type(s).__name__ for s in ALL])
def test_serialize_round_trip(sched):
    config = S.serialize(sched)
    assert config["class_name"] == type(sched).__name__
    again = S.deserialize(config)
    assert type(again) is type(sched) and again.get_config() == sched.get_config()
    assert [again(k) for k in STEPS] == [sched(k) for k in STEPS]
    assert type(type(sched).from_config(sched.get_config())) is type(sched)


def test_deserialize_unknown_class_lists_the_known_ones():
    with pytest.raises(ValueError, match="CosineDecay"):
        S.deserialize({"class_name": "StepDecay", "config": {}})


@pytest.mark.parametrize("make,arg", [
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    (lambda: S.ExponentialDecay(-0.1, 10, 0.5), "initial_learning_rate"),
    (lambda: S.InverseTimeDecay(0.1, -1, 0.5), "decay_steps"),
    (lambda: S.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "values"),
    (lambda: S.PiecewiseConstantDecay([2, 1], [0.1, 0.2, 0.3]), "boundaries"),
    (lambda: S.PolynomialDecay(0.1, 0), "decay_steps"),
    (lambda: S.CosineDecay(0.1, 10, alpha=-1.0), "alpha"),
    (lambda: S.CosineDecay(0.1, 10, warmup_target=0.5, warmup_steps=-2), "warmup_steps"),
    (lambda: S.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul"),
    (lambda: S.CosineDecayRestarts(0.1, 0), "first_decay_steps"),
])
def test_bad_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_optimizer_uses_schedule_of_iterations_before_increment(backend):
    # Record which steps the schedule is asked for while SGD takes three steps.
    asked = []

    class Recording(S.LearningRateSchedule):
        def __call__(self, step):
            asked.append(step)
            return 0.1 * (step + 1)

    opt = pn.optimizers.SGD(Recording())
    w0, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    v = Variable(backend.asarray(w0), "w", backend=backend)
    for _ in range(3):
        v.grad = backend.asarray(g)
        opt.apply([v])
    assert asked == [0, 1, 2]
    np.testing.assert_allclose(backend.to_numpy(v.value), w0 - (0.1 + 0.2 + 0.3) * g, rtol=1e-12)


def test_schedule_in_fit_and_in_saved_config(backend):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    sched = S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model = pn.Sequential([pn.Input((2,)), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(sched), loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert model.optimizer.iterations == 4
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.5 ** 2)
    opt = pn.optimizers.deserialize(model.get_compile_config()["optimizer"])
    assert isinstance(opt._learning_rate, S.ExponentialDecay)
