"""brass.optimizer and brass.lr_scheduler: every optimizer against a NumPy implementation of its
update rule over several steps (rescale_grad, clip_gradient, weight decay, multipliers), the
float16 master-copy path, the aggregated list path, the updater's saved states, the
schedules against hand-computed values, and the errors."""
import math
import pickle

import numpy as np
import pytest

import brass as mx


def _clip(g, c):
    return np.clip(g, -c, c) if c else g


class Ref:
    """NumPy update rules (MXNet 1.x semantics), float64."""

    def __init__(self, name, kw):
        self.name, self.kw = name, dict(kw)
        self.t = 0
        self.s = None

    def moments(self, w, gr, b1, b2):
        """Adam's mean and variance, updated in place."""
        if self.s is None:
            self.s = [np.zeros_like(w), np.zeros_like(w)]
        m, v = self.s
        m[:] = b1 * m + (1 - b1) * gr
        v[:] = b2 * v + (1 - b2) * gr * gr
        return m, v

    def step(self, w, g, lr, wd):
        k, n = self.kw, self.name
        rs, c = k.get("rescale_grad", 1.0), k.get("clip_gradient")
        self.t += 1
        t = self.t
        if n == "sgd":
            gr = _clip(g * rs, c) + wd * w
            m = k.get("momentum", 0.0)
            if not m:
                return w - lr * gr
            self.s = np.zeros_like(w) if self.s is None else self.s
            self.s = m * self.s - lr * gr
            return w + self.s
        if n == "nag":  # MXNet's kernel run in place: the state update sees the new weight
            gr = _clip(g * rs, c)
            m = k.get("momentum", 0.0)
            if not m:
                return w - lr * (gr + wd * w)
            self.s = np.zeros_like(w) if self.s is None else self.s
            mom = m * self.s
            nw = w - mom + (m + 1) * (mom - lr * (gr + wd * w))
            self.s = mom - lr * (gr + wd * nw)
            return nw
        if n == "adam":
            b1, b2, eps = k.get("beta1", 0.9), k.get("beta2", 0.999), k.get("epsilon", 1e-8)
            gr = _clip(g * rs + wd * w, c)  # MXNet clips after the weight decay here
            m, v = self.moments(w, gr, b1, b2)
            lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return w - lr_t * m / (np.sqrt(v) + eps)
        if n == "adamw":
            b1, b2, eps = k.get("beta1", 0.9), k.get("beta2", 0.999), k.get("epsilon", 1e-6)
            gr = _clip(g * rs, c)
            m, v = self.moments(w, gr, b1, b2)
            coef = math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return w - lr * (coef * m / (np.sqrt(v) + eps) + wd * w)
        if n == "rmsprop":
            g1, g2, eps = k.get("gamma1", 0.9), k.get("gamma2", 0.9), k.get("epsilon", 1e-8)
            gr = _clip(g * rs + wd * w, c)
            if not k.get("centered"):
                self.s = np.zeros_like(w) if self.s is None else self.s
                self.s = (1 - g1) * gr * gr + g1 * self.s
                nw = w - lr * gr / np.sqrt(self.s + eps)
            else:
                if self.s is None:
                    self.s = [np.zeros_like(w) for _ in range(3)]
                nn, gg, dd = self.s
                nn[:] = (1 - g1) * gr * gr + g1 * nn
                gg[:] = (1 - g1) * gr + g1 * gg
                dd[:] = g2 * dd - lr * gr / np.sqrt(nn - gg * gg + eps)
                nw = w + dd
            cw = k.get("clip_weights")
            return np.clip(nw, -cw, cw) if cw else nw
        if n == "adagrad":
            eps = k.get("eps", 1e-7)
            gr = _clip(g * rs, c)
            self.s = np.zeros_like(w) if self.s is None else self.s
            self.s = self.s + gr * gr
            return w - lr * (gr / np.sqrt(self.s + eps) + wd * w)
        if n == "adadelta":
            rho, eps = k.get("rho", 0.9), k.get("epsilon", 1e-5)
            gr = _clip(g * rs, c)
            if self.s is None:
                self.s = [np.zeros_like(w), np.zeros_like(w)]
            ag, ad = self.s
            ag[:] = rho * ag + (1 - rho) * gr * gr
            d = np.sqrt(ad + eps) / np.sqrt(ag + eps) * gr
            ad[:] = rho * ad + (1 - rho) * d * d
            return w - (d + wd * w)
        if n == "ftrl":
            l1, beta = k.get("lamda1", 0.01), k.get("beta", 1.0)
            gr = _clip(g * rs, c)
            if self.s is None:
                self.s = [np.zeros_like(w), np.zeros_like(w)]
            z, nn = self.s
            z[:] = z + gr - (np.sqrt(nn + gr * gr) - np.sqrt(nn)) * w / lr
            nn[:] = nn + gr * gr
            return (np.sign(z) * l1 - z) / ((beta + np.sqrt(nn)) / lr + wd) * (np.abs(z) > l1)
        if n == "signum":
            m, wd_lh = k.get("momentum", 0.9), k.get("wd_lh", 0.0)
            gr = _clip(g * rs, c)
            if not m:
                return (1 - lr * wd) * w - lr * np.sign(gr)
            self.s = np.zeros_like(w) if self.s is None else self.s
            self.s = m * self.s - (1 - m) * wd * w - (1 - m) * gr
            return (1 - lr * wd_lh) * w + lr * np.sign(self.s)
        if n == "lamb":
            b1, b2, eps = k.get("beta1", 0.9), k.get("beta2", 0.999), k.get("epsilon", 1e-6)
            gr = _clip(g * rs, c)
            m, v = self.moments(w, gr, b1, b2)
            mh, vh = m, v
            if k.get("bias_correction", True):
                mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
            d = mh / (np.sqrt(vh) + eps) + wd * w
            r1, r2 = np.linalg.norm(w), np.linalg.norm(d)
            lo, hi = k.get("lower_bound"), k.get("upper_bound")
            if lo:
                r1 = max(r1, lo)
            if hi:
                r1 = min(r1, hi)
            ratio = r1 / r2 if r1 > 0 and r2 > 0 else 1.0
            return w - lr * ratio * d
        raise AssertionError(n)


DEFAULT_LR = {"adam": 0.001, "adamw": 0.001, "rmsprop": 0.001, "ftrl": 0.1, "lamb": 0.001}

CASES = [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.5, "clip_gradient": 0.3, "rescale_grad": 2.0}),
    ("nag", {"momentum": 0.9}), ("nag", {}),
    ("adam", {}), ("adam", {"beta1": 0.8, "epsilon": 1e-6, "clip_gradient": 0.4}),
    ("adamw", {}), ("adamw", {"rescale_grad": 0.5}),
    ("rmsprop", {}), ("rmsprop", {"centered": True, "clip_weights": 0.9}),
    ("rmsprop", {"gamma1": 0.8, "clip_gradient": 0.3}), ("rmsprop", {"centered": True, "clip_gradient": 0.3}),
    ("adagrad", {}), ("adagrad", {"eps": 1e-4, "clip_gradient": 0.2}),
    ("adadelta", {}), ("adadelta", {"rho": 0.8, "rescale_grad": 3.0}),
    ("ftrl", {}), ("ftrl", {"lamda1": 0.1, "beta": 0.5}),
    ("signum", {}), ("signum", {"momentum": 0.0}), ("signum", {"wd_lh": 0.1}),
    ("lamb", {}), ("lamb", {"bias_correction": False, "lower_bound": 0.5, "upper_bound": 2.0}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES)
def test_optimizer_matches_its_update_rule(name, kw, dtype):
    r = np.random.RandomState(0)
    w0 = r.uniform(-1, 1, (4, 5))
    grads = [r.uniform(-1, 1, (4, 5)) for _ in range(5)]
    wd = 0.01
    opt = mx.optimizer.create(name, wd=wd, **kw)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(w0, dtype=dtype)
    ref, want = Ref(name, kw), w0.copy()
    lr = DEFAULT_LR.get(name, 0.01) if name != "adadelta" else None
    for g in grads:
        upd(3, mx.nd.array(g, dtype=dtype), w)
        want = ref.step(want, g, lr, wd)
    tol = 2e-5 if dtype == "float32" else 1e-11
    if name == "signum":  # a sign: an exact tie can flip in float32
        tol = 1e-6 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(w.asnumpy(), want, rtol=tol, atol=tol)
    assert opt.num_update == len(grads)


def test_multipliers_and_names():
    """lr_mult / wd_mult by name through param_idx2name (names not ending in _weight or _gamma get
    no weight decay), by index, and from a symbol's __lr_mult__ / __wd_mult__ attributes."""
    opt = mx.optimizer.SGD(learning_rate=0.1, wd=0.5, param_idx2name={0: "fc_weight", 1: "fc_bias", 2: "bn_gamma"})
    assert opt._get_wd(0) == 0.5 and opt._get_wd(1) == 0.0 and opt._get_wd(2) == 0.5
    opt.set_lr_mult({"fc_weight": 2.0, 1: 0.5})
    assert opt._get_lr(0) == pytest.approx(0.2) and opt._get_lr(1) == pytest.approx(0.05)
    w = mx.sym.var("w", lr_mult=3.0, wd_mult=0.25)
    sym = mx.sym.FullyConnected(mx.sym.var("data"), weight=w, num_hidden=2, no_bias=True)
    opt = mx.optimizer.SGD(learning_rate=0.1, wd=0.4, sym=sym, param_idx2name={0: "w"})
    assert opt._get_lr(0) == pytest.approx(0.3) and opt._get_wd(0) == pytest.approx(0.1)
    # the multiplier reaches the update
    upd = mx.optimizer.get_updater(mx.optimizer.SGD(learning_rate=0.1, param_idx2name={0: "a_weight"}))
    upd.optimizer.set_lr_mult({"a_weight": 0.0})
    a = mx.nd.ones((2,))
    upd(0, mx.nd.ones((2,)), a)
    assert a.asnumpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name,kw", [("sgd", {}), ("sgd", {"momentum": 0.9}), ("nag", {"momentum": 0.9}),
                                     ("adam", {}), ("adamw", {}), ("lamb", {}), ("rmsprop", {})])
def test_float16_weights_train_on_a_float32_master_copy(name, kw):
    """multi_precision: the state holds a float32 copy that takes the float32 update; the float16
    weight is its cast. The copy follows the float32 optimizer on float32 data exactly (float16
    gradients as given)."""
    r = np.random.RandomState(1)
    w0 = r.uniform(-1, 1, (3, 7)).astype(np.float16)
    grads = [r.uniform(-1, 1, (3, 7)).astype(np.float16) for _ in range(4)]
    w16 = mx.nd.array(w0, dtype="float16")
    upd16 = mx.optimizer.get_updater(mx.optimizer.create(name, multi_precision=True, wd=0.01, **kw))
    w32 = mx.nd.array(w0.astype(np.float32))
    upd32 = mx.optimizer.get_updater(mx.optimizer.create(name, wd=0.01, **kw))
    for g in grads:
        upd16(0, mx.nd.array(g, dtype="float16"), w16)
        upd32(0, mx.nd.array(g.astype(np.float32)), w32)
    state = upd16.states[0]
    master = state[1] if name in ("sgd", "nag") else state[0]
    assert master.dtype == np.float32 and w16.dtype == np.float16
    np.testing.assert_allclose(master.asnumpy(), w32.asnumpy(), rtol=1e-6, atol=1e-6)
    assert w16.asnumpy().tolist() == w32.asnumpy().astype(np.float16).tolist()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("mp", [False, True])
def test_aggregated_sgd_gives_the_single_updates(momentum, mp):
    """A list of weights (the multi_ operators, 4 per call) updates each weight exactly as one at a
    time, with per-weight learning rates and weight decays."""
    r = np.random.RandomState(2)
    dtype = "float16" if mp else "float32"
    shapes = [(3,), (2, 4), (5,), (1, 1), (6, 2), (7,)]
    w0 = [r.uniform(-1, 1, s) for s in shapes]
    gs = [[r.uniform(-1, 1, s) for s in shapes] for _ in range(3)]
    names = {i: "p%d_weight" % i for i in range(len(shapes))}

    def run(aggregate):
        opt = mx.optimizer.SGD(learning_rate=0.1, momentum=momentum, wd=0.02, multi_precision=mp,
                               param_idx2name=names, rescale_grad=0.5, clip_gradient=0.4)
        opt.set_lr_mult({"p1_weight": 0.5, "p4_weight": 2.0})
        upd = mx.optimizer.get_updater(opt)
        ws = [mx.nd.array(w, dtype=dtype) for w in w0]
        for step in gs:
            g = [mx.nd.array(x, dtype=dtype) for x in step]
            if aggregate:
                upd(list(range(len(ws))), g, ws)
            else:
                for i in range(len(ws)):
                    upd(i, g[i], ws[i])
        return [w.asnumpy() for w in ws]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_array_equal(a, b)


def test_updater_states_round_trip():
    """get_states / set_states: a second updater picks up where the first stopped (with the
    optimizer, when dumped)."""
    r = np.random.RandomState(3)
    opt = mx.optimizer.Adam(learning_rate=0.01)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(r.uniform(-1, 1, (4,)))
    g = mx.nd.array(r.uniform(-1, 1, (4,)))
    upd(0, g, w)
    upd(0, g, w)
    blob = upd.get_states(dump_optimizer=True)
    w2 = w.copy()
    upd(0, g, w)
    upd2 = mx.optimizer.get_updater(mx.optimizer.SGD())
    upd2.set_states(blob)
    assert isinstance(upd2.optimizer, mx.optimizer.Adam)
    upd2(0, g, w2)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
    states_only = upd.get_states()
    upd3 = mx.optimizer.get_updater(mx.optimizer.Adam(learning_rate=0.01))
    upd3.set_states(states_only)
    assert set(upd3.states) == {0}
    assert pickle.loads(pickle.dumps(opt)).lr == 0.01


def test_schedules():
    s = mx.lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=1.0, stop_factor_lr=0.2)
    assert [s(n) for n in range(1, 14)] == [1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.2] * 4
    s = mx.lr_scheduler.FactorScheduler(step=2, factor=0.1, base_lr=1.0)
    assert s(9) == pytest.approx(1e-4)  # a jump catches up at once
    s = mx.lr_scheduler.MultiFactorScheduler(step=[2, 5], factor=0.1, base_lr=1.0)
    assert [round(s(n), 6) for n in range(1, 8)] == [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    s = mx.lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    for n in (0, 3, 10, 12):
        want = 0.1 + 0.9 * (1 - min(n, 10) / 10) ** 2
        assert s(n) == pytest.approx(want)
    s = mx.lr_scheduler.CosineScheduler(max_update=8, base_lr=2.0, final_lr=0.0, warmup_steps=4, warmup_begin_lr=1.0)
    assert [s(n) for n in range(4)] == [1.0, 1.25, 1.5, 1.75]
    assert s(4) == pytest.approx(2.0) and s(6) == pytest.approx(1.0) and s(8) == pytest.approx(0.0)
    s = mx.lr_scheduler.FactorScheduler(step=5, base_lr=0.5, warmup_steps=2, warmup_begin_lr=0.3,
                                        warmup_mode="constant")
    assert s(0) == 0.3 and s(1) == 0.3 and s(2) == 0.5


def test_scheduler_drives_the_optimizer():
    sched = mx.lr_scheduler.MultiFactorScheduler(step=[1], factor=0.5, base_lr=1.0)
    opt = mx.optimizer.SGD(lr_scheduler=sched)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.zeros((1,))
    upd(0, mx.nd.ones((1,)), w)  # update 1: lr 1
    upd(0, mx.nd.ones((1,)), w)  # update 2: lr 0.5
    assert w.asscalar() == pytest.approx(-1.5)
    assert opt.learning_rate == 0.5
    with pytest.warns(UserWarning):
        opt = mx.optimizer.SGD(learning_rate=0.3, lr_scheduler=mx.lr_scheduler.FactorScheduler(step=1, base_lr=1.0))
    assert opt.lr_scheduler.base_lr == 0.3


def test_bad_input():
    with pytest.raises(mx.BrassError, match="no optimizer named 'sgdd'"):
        mx.optimizer.create("sgdd")
    with pytest.raises(mx.BrassError, match="lr_scheduler"):
        mx.optimizer.SGD(lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2)).set_learning_rate(0.1)
    upd = mx.optimizer.get_updater(mx.optimizer.SGD())
    with pytest.raises(mx.BrassError, match=r"shape \(2,\) but its gradient \(3,\)"):
        upd(0, mx.nd.ones((3,)), mx.nd.ones((2,)))
    with pytest.raises(mx.BrassError, match="step must be increasing"):
        mx.lr_scheduler.MultiFactorScheduler(step=[3, 2])
    with pytest.raises(mx.BrassError, match="factor must be at most 1"):
        mx.lr_scheduler.FactorScheduler(step=2, factor=2)
    with pytest.raises(mx.BrassError, match="warmup_mode"):
        mx.lr_scheduler.CosineScheduler(max_update=5, warmup_mode="cubic")
    with pytest.raises(mx.BrassError, match="max_update"):
        mx.lr_scheduler.PolyScheduler(max_update=0)


def test_register_a_new_optimizer():
    @mx.optimizer.register
    class HalfStep(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = weight - 0.5 * grad

    opt = mx.optimizer.create("halfstep")
    w = mx.nd.ones((2,))
    mx.optimizer.get_updater(opt)(0, mx.nd.ones((2,)), w)
    assert w.asnumpy().tolist() == [0.5, 0.5]
    del mx.optimizer.Optimizer.opt_registry["halfstep"]
