"""Optimizers against Keras's formulas written out by hand in float64 NumPy.

Every optimizer runs its first three updates on a 3-element weight with a fixed gradient
sequence (the gradients are given, not computed, so only the update rule is under test),
on every backend; the expected weights come from the reference functions below, each a
literal transcription of the Keras update (KERAS_REFERENCE.md §1).
"""

import math

import numpy as np
import pytest

import portanet as pn
from portanet.layers.base import Variable
from portanet.optimizers import schedules

# The float64 updates run with optimizers made under floatx "float64" (the ``float64``
# fixture): as Keras, a float rate is a variable of the floatx at creation, so under
# "float32" it is 0.01 rounded to float32 (0.009999999776482582, see
# test_the_learning_rate_is_a_keras_variable).
W0 = np.array([0.5, -1.2, 2.0])
GRADS = [np.array([0.1, -0.3, 0.8]), np.array([-0.2, 0.05, 0.6]), np.array([0.4, 0.0, -0.5])]


def run_steps(backend, opt, grads=GRADS, w0=W0, constraint=None, dtype="float64"):
    """Apply ``opt`` to one variable with the given gradients; the weights after each step."""
    v = Variable(backend.asarray(w0, dtype=dtype), "dense/kernel", backend=backend, constraint=constraint)
    out = []
    for g in grads:
        v.grad = backend.asarray(g, dtype=dtype)
        opt.apply([v])
        out.append(backend.to_numpy(v.value).astype(np.float64))
    return out, v


# ---------------------------------------------------------------------------- references
def steps(grads, current_w):
    """The gradient of each of three steps: a fixed list, or a function of the current
    weights (``current_w()`` reads the reference's running ``w``)."""
    if callable(grads):
        return (grads(current_w()) for _ in range(3))
    return iter(grads)


def ref_sgd(lr=0.01, momentum=0.0, nesterov=False):
    def run(w, grads):
        w, v, out = w.copy(), np.zeros_like(w), []
        for g in steps(grads, lambda: w):
            if momentum == 0:
                w = w - lr * g
            else:
                v = momentum * v - lr * g
                w = w + (momentum * v - lr * g if nesterov else v)
            out.append(w)
        return out
    return run


def ref_rmsprop(lr=0.001, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    def run(w, grads):
        w, s, a, m, out = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
        for g in steps(grads, lambda: w):
            s = rho * s + (1 - rho) * g ** 2
            if centered:
                a = rho * a + (1 - rho) * g
                den = s - a ** 2 + eps
            else:
                den = s + eps
            inc = lr * g / np.sqrt(den)
            if momentum > 0:
                m = momentum * m + inc
                w = w - m
            else:
                w = w - inc
            out.append(w)
        return out
    return run


def ref_adagrad(lr=0.001, init=0.1, eps=1e-7):
    def run(w, grads):
        w, acc, out = w.copy(), np.full_like(w, init), []
        for g in steps(grads, lambda: w):
            acc = acc + g ** 2
            w = w - lr * g / np.sqrt(acc + eps)
            out.append(w)
        return out
    return run


def ref_adadelta(lr=0.001, rho=0.95, eps=1e-7):
    def run(w, grads):
        w, eg, ed, out = w.copy(), np.zeros_like(w), np.zeros_like(w), []
        for g in steps(grads, lambda: w):
            eg = rho * eg + (1 - rho) * g ** 2
            d = -np.sqrt(ed + eps) / np.sqrt(eg + eps) * g
            ed = rho * ed + (1 - rho) * d ** 2
            w = w + lr * d
            out.append(w)
        return out
    return run


def ref_adam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None):
    def run(w, grads):
        w, m, v, vhat, out = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
        for t, g in enumerate(steps(grads, lambda: w), start=1):
            if wd:
                w = w - w * wd * lr
            m = m + (g - m) * (1 - b1)
            v = v + (g ** 2 - v) * (1 - b2)
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            if amsgrad:
                vhat = np.maximum(vhat, v)
                w = w - alpha * m / (np.sqrt(vhat) + eps)
            else:
                w = w - alpha * m / (np.sqrt(v) + eps)
            out.append(w)
        return out
    return run


def ref_adamax(lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    def run(w, grads):
        w, m, u, out = w.copy(), np.zeros_like(w), np.zeros_like(w), []
        for t, g in enumerate(steps(grads, lambda: w), start=1):
            m = m + (g - m) * (1 - b1)
            u = np.maximum(b2 * u, np.abs(g))
            w = w - lr * m / ((1 - b1 ** t) * (u + eps))
            out.append(w)
        return out
    return run


def ref_nadam(lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** t)

    def run(w, grads):
        w, m, v, prod, out = w.copy(), np.zeros_like(w), np.zeros_like(w), 1.0, []
        for t, g in enumerate(steps(grads, lambda: w), start=1):
            prod = prod * mu(t)
            m = m + (g - m) * (1 - b1)
            v = v + (g ** 2 - v) * (1 - b2)
            m_hat = mu(t + 1) * m / (1 - prod * mu(t + 1)) + (1 - mu(t)) * g / (1 - prod)
            v_hat = v / (1 - b2 ** t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
            out.append(w)
        return out
    return run


def ref_lion(lr=0.001, b1=0.9, b2=0.99):
    def run(w, grads):
        w, m, out = w.copy(), np.zeros_like(w), []
        for g in steps(grads, lambda: w):
            w = w - lr * np.sign(b1 * m + (1 - b1) * g)
            m = b2 * m + (1 - b2) * g
            out.append(w)
        return out
    return run


def ref_ftrl(lr=0.001, p=-0.5, init=0.1, l1=0.0, l2=0.0, l2s=0.0, beta=0.0):
    def run(w, grads):
        w, n, z, out = w.copy(), np.full_like(w, init), np.zeros_like(w), []
        for g in steps(grads, lambda: w):
            g2 = g + 2 * l2s * w
            n_new = n + g ** 2
            sigma = (n_new ** -p - n ** -p) / lr
            z = z + g2 - sigma * w
            q = n_new ** -p / lr + 2 * (l2 + beta / (2 * lr))
            w = (np.clip(z, -l1, l1) - z) / q
            n = n_new
            out.append(w)
        return out
    return run


O = pn.optimizers
CASES = [
    ("sgd", lambda: O.SGD(), ref_sgd()),
    ("sgd_lr", lambda: O.SGD(learning_rate=0.3), ref_sgd(lr=0.3)),
    ("sgd_momentum", lambda: O.SGD(0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    ("sgd_nesterov", lambda: O.SGD(0.1, momentum=0.8, nesterov=True), ref_sgd(0.1, 0.8, True)),
    ("rmsprop", lambda: O.RMSprop(), ref_rmsprop()),
    ("rmsprop_centered_momentum", lambda: O.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
     ref_rmsprop(0.01, 0.8, 0.5, centered=True)),
    ("rmsprop_momentum", lambda: O.RMSprop(0.01, momentum=0.9), ref_rmsprop(0.01, momentum=0.9)),
    ("adagrad", lambda: O.Adagrad(), ref_adagrad()),
    ("adagrad_opts", lambda: O.Adagrad(0.05, initial_accumulator_value=0.3, epsilon=1e-3),
     ref_adagrad(0.05, 0.3, 1e-3)),
    ("adadelta", lambda: O.Adadelta(), ref_adadelta()),
    ("adadelta_opts", lambda: O.Adadelta(1.0, rho=0.5, epsilon=1e-3), ref_adadelta(1.0, 0.5, 1e-3)),
    ("adam", lambda: O.Adam(), ref_adam()),
    ("adam_opts", lambda: O.Adam(0.05, beta_1=0.5, beta_2=0.7, epsilon=1e-3), ref_adam(0.05, 0.5, 0.7, 1e-3)),
    ("adam_amsgrad", lambda: O.Adam(0.05, amsgrad=True), ref_adam(0.05, amsgrad=True)),
    ("adamw", lambda: O.AdamW(), ref_adam(wd=0.004)),
    ("adamw_opts", lambda: O.AdamW(0.1, weight_decay=0.5, beta_1=0.8), ref_adam(0.1, b1=0.8, wd=0.5)),
    ("adamax", lambda: O.Adamax(), ref_adamax()),
    ("adamax_opts", lambda: O.Adamax(0.1, beta_1=0.5, beta_2=0.6, epsilon=1e-2), ref_adamax(0.1, 0.5, 0.6, 1e-2)),
    ("nadam", lambda: O.Nadam(), ref_nadam()),
    ("nadam_opts", lambda: O.Nadam(0.1, beta_1=0.7, beta_2=0.9, epsilon=1e-3), ref_nadam(0.1, 0.7, 0.9, 1e-3)),
    ("lion", lambda: O.Lion(), ref_lion()),
    ("lion_opts", lambda: O.Lion(0.1, beta_1=0.3, beta_2=0.5), ref_lion(0.1, 0.3, 0.5)),
    ("ftrl", lambda: O.Ftrl(), ref_ftrl()),
    ("ftrl_opts", lambda: O.Ftrl(0.1, learning_rate_power=-0.7, initial_accumulator_value=0.2,
                                 l1_regularization_strength=0.01, l2_regularization_strength=0.3,
                                 l2_shrinkage_regularization_strength=0.05, beta=0.2),
     ref_ftrl(0.1, -0.7, 0.2, 0.01, 0.3, 0.05, 0.2)),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_first_three_updates_match_keras_formulas(backend, float64, name, make, ref):
    got, _ = run_steps(backend, make())
    want = ref(W0, GRADS)
    for t in range(3):
        np.testing.assert_allclose(got[t], want[t], rtol=1e-12, atol=1e-15, err_msg=f"{name} step {t + 1}")
    # The update really moved the weights (a reference that did nothing would also "match").
    assert np.max(np.abs(got[2] - W0)) > 1e-7


# A small fixed problem: a linear model y = X·k + b under MSE, full batch. The kernel and
# bias are one vector (k, b) for the references; the gradient is written out by hand.
X = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [-1.5, 0.3, 0.7], [2.0, 1.0, 1.0]])
Y = np.array([[1.0], [-2.0], [0.5], [3.0]])
KB0 = np.array([0.3, -0.2, 0.1, 0.05])


def mse_grad(kb):
    r = X @ kb[:3] + kb[3] - Y[:, 0]
    return np.concatenate([2.0 / len(X) * X.T @ r, [2.0 / len(X) * r.sum()]])


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_first_three_training_steps_on_a_linear_problem(backend, float64, name, make, ref):
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
    model.set_weights([KB0[:3].reshape(3, 1), KB0[3:]])
    model.compile(optimizer=make(), loss="mse")
    want = ref(KB0, mse_grad)
    for t in range(3):
        model.train_on_batch(X, Y)
        k, b = model.get_weights()
        np.testing.assert_allclose(np.concatenate([k[:, 0], b]), want[t], rtol=1e-10, atol=1e-14,
                                   err_msg=f"{name} step {t + 1}")


def test_reference_spot_values():
    # Two hand-evaluated numbers so the references themselves are pinned.
    # Adam step 1: m = 0.1g, v = 0.001g², α = lr·√0.001/0.1 -> w -= lr·g/(|g| + eps·√1000) ≈ lr·sign(g).
    w1 = ref_adam()(W0, GRADS)[0]
    g = GRADS[0]
    np.testing.assert_allclose(w1, W0 - 0.001 * g / (np.abs(g) + 1e-7 * math.sqrt(1000)), rtol=1e-12)
    # Adagrad step 1 on the first element: 0.5 - 0.001·0.1/√(0.1 + 0.01 + 1e-7).
    assert ref_adagrad()(W0, GRADS)[0][0] == pytest.approx(0.5 - 0.001 * 0.1 / math.sqrt(0.11 + 1e-7), abs=1e-15)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamw", "adamax",
                                  "nadam", "lion", "ftrl"])
def test_string_names_and_float32_dtype_kept(backend, name):
    opt = pn.optimizers.get(name)
    assert opt.name.lower() == name
    got, v = run_steps(backend, opt, dtype="float32")
    assert v.value.dtype == backend.dtype("float32")
    ref = dict((c[0], c[2]) for c in CASES)[name]
    np.testing.assert_allclose(got[2], ref(W0, GRADS)[2], rtol=2e-5, atol=1e-6)


def test_unknown_optimizer_name_lists_valid_ones():
    with pytest.raises(ValueError, match="adamw"):
        pn.optimizers.get("adamz")


# ---------------------------------------------------------------------------- common options
def test_clipnorm_per_tensor(backend):
    g = np.array([3.0, 4.0, 0.0])        # norm 5
    small = np.array([0.3, 0.4, 0.0])    # norm 0.5: untouched
    got, _ = run_steps(backend, O.SGD(1.0, clipnorm=1.0), grads=[g, small])
    np.testing.assert_allclose(got[0], W0 - g / 5.0, rtol=1e-12)
    np.testing.assert_allclose(got[1], W0 - g / 5.0 - small, rtol=1e-12)


def test_clipvalue(backend):
    got, _ = run_steps(backend, O.SGD(1.0, clipvalue=0.25), grads=[GRADS[0]])
    np.testing.assert_allclose(got[0], W0 - np.clip(GRADS[0], -0.25, 0.25), rtol=1e-12)


def test_global_clipnorm_scales_all_tensors_together(backend):
    opt = O.SGD(1.0, global_clipnorm=1.0)
    a = Variable(backend.asarray(np.zeros(2)), "a", backend=backend)
    b = Variable(backend.asarray(np.zeros(1)), "b", backend=backend)
    a.grad, b.grad = backend.asarray(np.array([3.0, 0.0])), backend.asarray(np.array([4.0]))
    opt.apply([a, b])
    # Global norm 5: every gradient is scaled by 1/5, the per-tensor norms (3 and 4) notwithstanding.
    np.testing.assert_allclose(backend.to_numpy(a.value), [-0.6, 0.0], rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(b.value), [-0.8], rtol=1e-12)


def test_weight_decay_is_decoupled_and_before_the_update(backend, float64):
    lr, wd = 0.1, 0.5
    got, _ = run_steps(backend, O.SGD(lr, weight_decay=wd), grads=GRADS[:2])
    w1 = W0 - W0 * wd * lr - lr * GRADS[0]      # decay, then the step with the given gradient
    w2 = w1 - w1 * wd * lr - lr * GRADS[1]
    np.testing.assert_allclose(got[0], w1, rtol=1e-12)
    np.testing.assert_allclose(got[1], w2, rtol=1e-12)
    # Adam with weight_decay is AdamW: the decay is not fed through the moments.
    got_adam, _ = run_steps(backend, O.Adam(0.1, weight_decay=0.5))
    np.testing.assert_allclose(got_adam[2], ref_adam(0.1, wd=0.5)(W0, GRADS)[2], rtol=1e-12)


def test_exclude_from_weight_decay(backend, float64):
    opt = O.SGD(0.1, weight_decay=0.5)
    k = Variable(backend.asarray(W0), "dense/kernel", backend=backend)
    b = Variable(backend.asarray(W0), "dense/bias", backend=backend)
    opt.exclude_from_weight_decay(var_names=["bias"])
    k.grad = b.grad = backend.asarray(GRADS[0])
    opt.apply([k, b])
    np.testing.assert_allclose(backend.to_numpy(k.value), W0 - W0 * 0.05 - 0.1 * GRADS[0], rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(b.value), W0 - 0.1 * GRADS[0], rtol=1e-12)


def test_constraint_applied_after_decay_and_update(backend, float64):
    halve = lambda x: x * 0.5  # noqa: E731 - any function of the weight; halving shows the order
    got, _ = run_steps(backend, O.SGD(0.1, weight_decay=0.5), grads=GRADS[:1], constraint=halve)
    np.testing.assert_allclose(got[0], 0.5 * (W0 - W0 * 0.05 - 0.1 * GRADS[0]), rtol=1e-12)


def test_none_gradients_are_skipped_but_iterations_advance(backend, float64):
    opt = O.Adam(0.1)
    a = Variable(backend.asarray(W0), "a", backend=backend)
    b = Variable(backend.asarray(W0), "b", backend=backend)
    a.grad = backend.asarray(GRADS[0])
    opt.apply([a, b])
    np.testing.assert_array_equal(backend.to_numpy(b.value), W0)
    np.testing.assert_allclose(backend.to_numpy(a.value), ref_adam(0.1)(W0, GRADS)[0], rtol=1e-12)
    assert opt.iterations == 1


def test_loss_scale_factor_divides_gradients(backend, float64):
    got, _ = run_steps(backend, O.SGD(0.1, loss_scale_factor=4.0), grads=GRADS[:1])
    np.testing.assert_allclose(got[0], W0 - 0.1 * GRADS[0] / 4.0, rtol=1e-12)


def test_gradient_accumulation_updates_every_kth_step_with_the_mean(backend, float64):
    got, _ = run_steps(backend, O.SGD(0.1, gradient_accumulation_steps=2))
    np.testing.assert_array_equal(got[0], W0)
    w2 = W0 - 0.1 * (GRADS[0] + GRADS[1]) / 2
    np.testing.assert_allclose(got[1], w2, rtol=1e-12)
    np.testing.assert_allclose(got[2], w2, rtol=1e-12)   # step 3 only accumulates again


def test_ema_average_and_finalize(backend, float64):
    opt = O.SGD(0.1, use_ema=True, ema_momentum=0.9)
    got, v = run_steps(backend, opt)
    np.testing.assert_allclose(got, ref_sgd(0.1)(W0, GRADS), rtol=1e-12)   # weights train as usual
    w = ref_sgd(0.1)(W0, GRADS)
    avg = w[0]                                   # μ = 0 on the first step
    for wt in w[1:]:
        avg = 0.9 * avg + 0.1 * wt
    opt.finalize_variable_values()
    np.testing.assert_allclose(backend.to_numpy(v.value), avg, rtol=1e-12)


def test_ema_overwrite_frequency(backend, float64):
    opt = O.SGD(0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    got, _ = run_steps(backend, opt, grads=GRADS[:2])
    w1 = W0 - 0.1 * GRADS[0]
    w2 = w1 - 0.1 * GRADS[1]
    np.testing.assert_allclose(got[1], 0.5 * w1 + 0.5 * w2, rtol=1e-12)


def test_fit_swaps_ema_into_the_weights_at_the_end(backend):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))

    def train(opt):
        pn.utils.set_random_seed(3)
        model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        return model
    ema = O.SGD(0.1, use_ema=True, ema_momentum=0.8)
    m_ema, m_plain = train(ema), train(O.SGD(0.1))
    assert ema.iterations == 8
    for w, slots in zip(m_ema.trainable_weights, ema._slots):
        np.testing.assert_array_equal(w.numpy(), backend.to_numpy(slots["average"]))
    assert not np.allclose(m_ema.get_weights()[0], m_plain.get_weights()[0])


# ---------------------------------------------------------------------------- learning rate
def test_schedule_is_read_before_the_increment(backend):
    # schedule(0) = 1.0, schedule(s >= 1) = 0.1: the first update must use 1.0.
    opt = O.SGD(schedules.PiecewiseConstantDecay([0], [1.0, 0.1]))
    got, _ = run_steps(backend, opt)
    np.testing.assert_allclose(got[0], W0 - 1.0 * GRADS[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], got[0] - 0.1 * GRADS[1], rtol=1e-12)
    assert opt.iterations == 3 and opt.learning_rate == pytest.approx(0.1)


def test_adam_with_exponential_decay_schedule(backend):
    sched = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    got, _ = run_steps(backend, O.Adam(sched))
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        lr = 0.1 * 0.5 ** (t - 1)
        m = m + (g - m) * 0.1
        v = v + (g ** 2 - v) * 0.001
        w = w - lr * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(got[2], w, rtol=1e-12)


def test_learning_rate_get_and_set(backend):
    opt = O.SGD(0.1)
    assert opt.learning_rate == 0.1
    run_steps(backend, opt, grads=GRADS[:1])
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    v = Variable(backend.asarray(W0), "w", backend=backend)
    v.grad = backend.asarray(GRADS[0])
    opt.apply([v])
    np.testing.assert_allclose(backend.to_numpy(v.value), W0 - 0.5 * GRADS[0], rtol=1e-12)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    sched_opt = O.SGD(schedules.ExponentialDecay(0.1, 2, 0.5))
    assert sched_opt.learning_rate == pytest.approx(0.1)
    sched_opt.iterations = 4
    assert sched_opt.learning_rate == pytest.approx(0.025)
    with pytest.raises(TypeError, match="learning_rate"):
        sched_opt.learning_rate = 0.3


def test_the_learning_rate_is_a_keras_variable(backend):
    # What Keras 3.15.1 shows for SGD(0.001, name="sgd").learning_rate (floatx float32).
    opt = O.SGD(0.001, name="sgd")
    lr = opt.learning_rate
    assert repr(lr) == str(lr) == ("<Variable path=sgd/learning_rate, shape=(), dtype=float32, "
                                   "value=0.0010000000474974513>")
    assert float(lr) == 0.0010000000474974513
    assert (lr.name, lr.path, lr.shape, lr.trainable) == ("learning_rate", "sgd/learning_rate", (), False)
    host = pn.ops.convert_to_numpy(lr)
    assert host.dtype == np.float32 and host == np.float32(0.001)
    assert np.asarray(lr).dtype == np.float32 and lr.numpy() == np.float32(0.001)
    assert lr == 0.001 and lr != 0.002          # compared in float32, as Keras's lr == 0.001
    np.testing.assert_allclose(backend.to_numpy(lr * 2), np.float32(0.002))
    lr.assign(0.01)
    assert float(opt.learning_rate) == 0.009999999776482582
    opt.learning_rate = 0.02                    # assigns the same variable, as Keras
    assert opt.learning_rate is lr and float(lr) == 0.019999999552965164
    assert opt.get_config()["learning_rate"] == 0.019999999552965164
    opt.learning_rate = lr * 0.5                # a 0-d array, as Keras's assign takes
    assert float(lr) == 0.009999999776482582
    with pytest.raises(ValueError, match=r"sgd: learning_rate='x'; expected a non-negative float"):
        opt.learning_rate = "x"
    with pytest.raises(ValueError, match=r"learning_rate=-1.0; expected a non-negative float"):
        lr.assign(-1.0)
    # Under floatx float64 the variable is float64 and keeps 0.001 (Keras with x64).
    pn.config.set_floatx("float64")
    lr64 = O.SGD(0.001).learning_rate
    assert float(lr64) == 0.001 and "dtype=float64, value=0.001>" in repr(lr64)


def test_the_update_uses_the_variables_value_without_reading_the_device(backend):
    # Keras casts its float32 rate to the weight's dtype: a float64 weight moves by
    # 0.10000000149011612 * g. The step reads the host copy: no device read-back.
    opt = O.SGD(0.1)
    v = Variable(backend.asarray(W0, dtype="float64"), "w", backend=backend)
    reads = backend.to_host_calls
    for g in GRADS[:2]:
        v.grad = backend.asarray(g, dtype="float64")
        opt.apply([v])
    assert backend.to_host_calls == reads
    rate = 0.10000000149011612
    np.testing.assert_allclose(backend.to_numpy(v.value), W0 - rate * GRADS[0] - rate * GRADS[1],
                               rtol=1e-15)
    with pn.GradientTape():
        assert float(opt.learning_rate) == rate    # a constant: readable inside a trace


def test_the_learning_rate_of_a_schedule_is_its_current_value(backend):
    # Keras: opt.learning_rate is schedule(iterations) (np.float32 on its numpy backend);
    # a callable that is not a schedule is called with no argument.
    opt = O.SGD(schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5))
    assert float(opt.learning_rate) == pytest.approx(0.1) and opt.learning_rate.dtype == np.float32
    opt.iterations = 3
    assert float(opt.learning_rate) == pytest.approx(0.0125)
    assert float(O.Adam(learning_rate=lambda: 0.5).learning_rate) == 0.5
    assert float(O.Adam(learning_rate=lambda step: 0.1 * step).learning_rate) == 0.0


# ---------------------------------------------------------------------------- state and config
@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_state_round_trip_continues_identically(backend, name, make, ref):
    opt = make()
    full, _ = run_steps(backend, opt)
    first = make()
    part, v = run_steps(backend, first, grads=GRADS[:2])
    state = first.get_state()
    assert state["iterations"] == 2
    # A fresh optimizer and variable (as after loading a file) continue exactly.
    resumed = make()
    v2 = Variable(backend.asarray(part[1]), "dense/kernel", backend=backend)
    resumed.set_state(state, [v2])
    v2.grad = backend.asarray(GRADS[2])
    resumed.apply([v2])
    np.testing.assert_array_equal(backend.to_numpy(v2.value), full[2])


def test_set_state_mismatch_raises(backend):
    opt = O.Adam()
    run_steps(backend, opt, grads=GRADS[:1])
    state = opt.get_state()
    a = Variable(backend.asarray(W0), "a", backend=backend)
    b = Variable(backend.asarray(W0), "b", backend=backend)
    with pytest.raises(ValueError, match="2 trainable"):
        O.Adam().set_state(state, [a, b])
    with pytest.raises(ValueError, match="velocity_hat"):
        O.Adam(amsgrad=True).set_state(state, [a])


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_config_round_trip(name, make, ref):
    opt = make()
    config = pn.optimizers.serialize(opt)
    again = pn.optimizers.deserialize(config)
    assert type(again) is type(opt)
    assert again.get_config() == opt.get_config()
    assert pn.optimizers.get(config).get_config() == opt.get_config()


def test_config_round_trip_with_schedule_and_options():
    opt = O.AdamW(schedules.CosineDecay(0.1, 100, warmup_target=0.5, warmup_steps=10), clipnorm=1.0,
                  use_ema=True, ema_momentum=0.95)
    again = pn.optimizers.deserialize(pn.optimizers.serialize(opt))
    assert isinstance(again._learning_rate, schedules.CosineDecay)
    assert again.get_config() == opt.get_config()
    assert again.use_ema and again.ema_momentum == 0.95 and again.clipnorm == 1.0


def test_keras_defaults():
    # Keras 3.15.1 writes float() of its float32 rate variable.
    assert O.SGD().get_config()["learning_rate"] == 0.009999999776482582
    for cls in (O.RMSprop, O.Adagrad, O.Adadelta, O.Adam, O.AdamW, O.Adamax, O.Nadam, O.Lion, O.Ftrl):
        assert cls().get_config()["learning_rate"] == 0.0010000000474974513, cls
    assert O.AdamW().weight_decay == 0.004
    assert O.Adadelta().rho == 0.95 and O.Lion().beta_2 == 0.99
    assert O.Ftrl().learning_rate_power == -0.5 and O.Ftrl().initial_accumulator_value == 0.1


# ---------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("make,arg", [
    (lambda: O.SGD(-0.1), "learning_rate"),
    (lambda: O.Adam(learning_rate=float("inf")), "learning_rate"),
    (lambda: O.SGD(clipnorm=1.0, clipvalue=1.0), "clipvalue"),
    (lambda: O.Adam(clipnorm=1.0, global_clipnorm=1.0), "global_clipnorm"),
    (lambda: O.SGD(clipnorm=-1.0), "clipnorm"),
    (lambda: O.Adam(beta_1=1.0), "beta_1"),
    (lambda: O.Adam(beta_2=-0.1), "beta_2"),
    (lambda: O.Adamax(beta_1=1.5), "beta_1"),
    (lambda: O.Nadam(beta_2=1.0), "beta_2"),
    (lambda: O.AdamW(beta_1=2.0), "beta_1"),
    (lambda: O.Lion(beta_1=0.0), "beta_1"),
    (lambda: O.Lion(beta_2=1.0), "beta_2"),
    (lambda: O.Adadelta(rho=1.0), "rho"),
    (lambda: O.RMSprop(rho=-0.5), "rho"),
    (lambda: O.SGD(momentum=1.5), "momentum"),
    (lambda: O.Adam(epsilon=0.0), "epsilon"),
    (lambda: O.Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: O.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
    (lambda: O.Ftrl(l1_regularization_strength=-1.0), "l1_regularization_strength"),
    (lambda: O.AdamW(weight_decay=None), "weight_decay"),
    (lambda: O.SGD(weight_decay=-0.1), "weight_decay"),
    (lambda: O.SGD(use_ema=True, ema_momentum=1.5), "ema_momentum"),
    (lambda: O.SGD(use_ema=True, ema_overwrite_frequency=0), "ema_overwrite_frequency"),
    (lambda: O.SGD(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
])
def test_bad_arguments_raise_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_unexpected_keyword_raises():
    # Keras 3: ValueError("Argument(s) not recognized: {'lr': 0.1}").
    with pytest.raises(ValueError, match="lr"):
        O.Adam(lr=0.1)


# ---------------------------------------------------------------------------- Keras 3 apply API
def _var(backend, w, name="dense/kernel"):
    return Variable(backend.asarray(np.asarray(w, dtype=np.float64), dtype="float64"), name,
                    backend=backend)


@pytest.mark.parametrize("make", [lambda: pn.optimizers.SGD(0.1, momentum=0.9),
                                  lambda: pn.optimizers.Adam(0.1), lambda: pn.optimizers.RMSprop(0.1)],
                         ids=["sgd", "adam", "rmsprop"])
def test_apply_grads_and_variables_matches_the_reference(backend, float64, make):
    """apply(grads, trainable_variables) builds on the first call, then apply(grads) and
    apply_gradients continue; three steps equal Keras's formula and apply(variables)."""
    opt = make()
    a, b = _var(backend, W0), _var(backend, -W0, "dense/bias")
    assert not opt.built and opt.variables == []
    opt.apply([backend.asarray(GRADS[0]), backend.asarray(-GRADS[0])], [a, b])
    assert opt.built and opt.variables == [a, b] and opt.iterations == 1
    opt.apply([backend.asarray(GRADS[1]), backend.asarray(-GRADS[1])])
    assert opt.apply_gradients([(backend.asarray(GRADS[2]), a), (backend.asarray(-GRADS[2]), b)]) == 3
    ref = {"SGD": ref_sgd(0.1, 0.9), "Adam": ref_adam(0.1), "RMSprop": ref_rmsprop(0.1)}[type(opt).__name__]
    np.testing.assert_allclose(backend.to_numpy(a.value), ref(W0, GRADS)[2], rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(b.value), ref(-W0, [-g for g in GRADS])[2], rtol=1e-12)
    old, _ = run_steps(backend, make())
    np.testing.assert_allclose(backend.to_numpy(a.value), old[2], rtol=1e-12)


def test_apply_skips_none_gradients_with_a_warning(backend):
    opt = pn.optimizers.SGD(0.5)
    a, b = _var(backend, [1.0, 2.0]), _var(backend, [3.0], "dense/bias")
    with pytest.warns(UserWarning, match="dense/bias"):
        opt.apply([backend.asarray(np.array([1.0, -1.0])), None], [a, b])
    np.testing.assert_array_equal(backend.to_numpy(a.value), [0.5, 2.5])
    np.testing.assert_array_equal(backend.to_numpy(b.value), [3.0])
    assert opt.iterations == 1


def test_apply_refuses_before_changing_anything(backend):
    opt = pn.optimizers.Adam(0.1)
    a, b = _var(backend, [1.0, 2.0]), _var(backend, [3.0], "dense/bias")
    g = backend.asarray(np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="built"):
        opt.apply([g])  # unbuilt, no variables
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply([None], [a])
    assert opt.iterations == 0
    opt.apply([g], [a])
    state = opt.get_state()
    with pytest.raises(ValueError, match="unknown variable"):
        opt.apply([backend.asarray(np.array([1.0]))], [b])
    with pytest.raises(ValueError, match="2 gradients"):
        opt.apply([g, g])
    with pytest.raises(ValueError, match="expected one gradient each"):
        opt.apply([g, g], [a])
    assert opt.iterations == 1 and opt.variables == [a]
    np.testing.assert_array_equal(opt.get_state()["slots"][0]["momentum"], state["slots"][0]["momentum"])
    opt.apply([], [])  # Keras form with nothing to apply: nothing happens
    assert opt.iterations == 1


def test_apply_to_a_subset_uses_each_variables_own_slots(backend, float64):
    """Passing some of the built variables updates those, with their own slots."""
    opt = pn.optimizers.Adam(0.1)
    a, b = _var(backend, W0), _var(backend, -W0, "dense/bias")
    opt.build([a, b])
    for g in GRADS:
        opt.apply([backend.asarray(g)], [b])
    np.testing.assert_allclose(backend.to_numpy(b.value), ref_adam(0.1)(-W0, GRADS)[2], rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(a.value), W0)
    assert np.all(opt.get_state()["slots"][0]["momentum"] == 0)


def test_apply_old_form_with_no_gradient_still_counts_a_step(backend):
    opt = pn.optimizers.SGD(0.1)
    a = _var(backend, [1.0])
    opt.apply([a])
    assert opt.iterations == 1 and opt.variables == [a]
    np.testing.assert_array_equal(backend.to_numpy(a.value), [1.0])
