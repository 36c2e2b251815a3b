"""Optimizers (MXNet 1.x ``mx.optimizer``): each one keeps per-weight state and updates a weight
from its gradient with the fused update operators (``sgd_mom_update``, ``adam_update``, ...), so
the update runs on the engine beside the rest of the step.

Shared arguments (every optimizer): ``learning_rate`` (0.01 unless the optimizer says otherwise,
or given by ``lr_scheduler``), ``wd`` (weight decay), ``rescale_grad`` (the gradient is
multiplied by it first), ``clip_gradient`` (then clipped to [-c, c]; None or 0: no clipping),
``multi_precision`` (float16 weights get a float32 master copy that the update works on, cast
back after each step), ``param_idx2name`` and ``sym`` (learning-rate and weight-decay multipliers
by name: without them, names not ending in ``_weight`` or ``_gamma`` get no weight decay, as in
MXNet's Module), ``param_dict`` (Gluon: the multipliers of each Parameter), ``begin_num_update``.

>>> import brass as mx
>>> opt = mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.9)
>>> upd = mx.optimizer.get_updater(opt)
>>> w, g = mx.nd.ones((2,)), mx.nd.ones((2,))
>>> upd(0, g, w); upd(0, g, w)
>>> [round(v, 4) for v in w.asnumpy().tolist()]
[0.71, 0.71]
"""
import math
import os
import pickle
import warnings

import numpy as np

from .base import BrassError
from . import ndarray as nd
from .ndarray import NDArray

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdamW", "RMSProp", "AdaGrad", "AdaDelta", "Ftrl", "Signum",
           "LAMB", "Updater", "create", "register", "get_updater"]


class Optimizer:
    """Base class: ``create_state(index, weight)`` makes a weight's state, ``update(index,
    weight, grad, state)`` applies one step in place. Register subclasses with
    ``@Optimizer.register`` (by lower-case class name) and make them with ``create(name)``."""

    opt_registry = {}

    def __init__(self, rescale_grad=1.0, param_idx2name=None, wd=0.0, clip_gradient=None, learning_rate=None,
                 lr_scheduler=None, sym=None, begin_num_update=0, multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None and lr_scheduler.base_lr != learning_rate:
            warnings.warn("the learning rate of lr_scheduler (%g) is replaced by the optimizer's learning_rate (%g)"
                          % (lr_scheduler.base_lr, learning_rate))
            lr_scheduler.base_lr = learning_rate
            if hasattr(lr_scheduler, "base_lr_orig"):
                lr_scheduler.base_lr_orig = learning_rate
            lr_scheduler.warmup_final_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        self.idx2name = dict(param_idx2name or {})
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # ---- registry -----------------------------------------------------------------------
    @staticmethod
    def register(klass):
        """Class decorator: makes ``klass`` available to ``create`` by its lower-case name."""
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry and Optimizer.opt_registry[name] is not klass:
            warnings.warn("optimizer %s.%s replaces %s.%s under the name %r" % (
                klass.__module__, klass.__name__, Optimizer.opt_registry[name].__module__,
                Optimizer.opt_registry[name].__name__, name))
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An optimizer by registered name (case-insensitive), made with ``kwargs``."""
        key = name.lower() if isinstance(name, str) else name
        if key not in Optimizer.opt_registry:
            raise BrassError("optimizer: no optimizer named %r (registered: %s)"
                             % (name, ", ".join(sorted(Optimizer.opt_registry))))
        return Optimizer.opt_registry[key](**kwargs)

    # ---- learning rate and weight decay -------------------------------------------------
    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        """Sets the learning rate (not possible with a scheduler)."""
        if self.lr_scheduler is not None:
            raise BrassError("optimizer: set_learning_rate cannot change the rate of an optimizer that has "
                             "an lr_scheduler")
        self.lr = lr

    def set_lr_mult(self, args_lr_mult):
        """Learning-rate multipliers by parameter name (or index); a symbol's ``__lr_mult__``
        attributes are read first."""
        self.lr_mult = self._sym_mults("__lr_mult__")
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Weight-decay multipliers by parameter name (or index): 0 for names in
        ``param_idx2name`` that do not end in ``_weight`` or ``_gamma``, then a symbol's
        ``__wd_mult__`` attributes, then ``args_wd_mult``."""
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith(("_weight", "_gamma"))}
        self.wd_mult.update(self._sym_mults("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def _sym_mults(self, key):
        """The symbol's arguments that carry attribute ``key``, with its value."""
        if not self.sym_info:
            return {}
        attr, arg_names = self.sym_info
        return {n: float(attr[n][key]) for n in arg_names if key in attr.get(n, {})}

    def _set_current_context(self, device_id):
        """Update counts are kept per device (each device's copy of a weight counts its own
        updates, as MXNet does)."""
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        for idx in index if isinstance(index, (list, tuple)) else [index]:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _mult(self, index, table, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(i, self.lr_mult, "lr_mult") for i in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self.wd * self._mult(i, self.wd_mult, "wd_mult") for i in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def _common_kwargs(self):
        kw = {"rescale_grad": self.rescale_grad}
        if self.clip_gradient:
            kw["clip_gradient"] = self.clip_gradient
        return kw

    # ---- state and update ---------------------------------------------------------------
    def create_state(self, index, weight):
        """The state an update of ``weight`` needs (None for none)."""
        return None

    def _wants_master_copy(self, weight):
        return self.multi_precision and weight.dtype == np.float16

    def create_state_multi_precision(self, index, weight):
        """With ``multi_precision`` and a float16 weight: (float32 master copy, its state)."""
        if self._wants_master_copy(weight):
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("float16 weights updated in float16 can train poorly; consider the optimizer's "
                          "multi_precision=True")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """One step on ``weight`` (in place) from ``grad``."""
        raise NotImplementedError("Optimizer subclasses define update")

    def update_multi_precision(self, index, weight, grad, state):
        """``update``, or on a float16 weight with a master copy: the step in float32 on the copy,
        then the copy cast into the weight."""
        if isinstance(index, (list, tuple)):
            for i, w, g, s in zip(index, weight, grad, state):
                self.update_multi_precision(i, w, g, s)
            return
        if self._wants_master_copy(weight):
            master, inner = state
            self.update(index, master, grad.astype(np.float32), inner)
            nd.cast(master, dtype=weight.dtype, out=weight)
        else:
            self.update(index, weight, grad, state)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["param_dict"] = {}  # Gluon Parameters stay with the Trainer
        return state

    def __setstate__(self, state):
        self.__dict__ = state


register = Optimizer.register
create = Optimizer.create_optimizer


def _zeros_like(weight, dtype=None):
    return nd.zeros(weight.shape, weight.context, dtype=dtype or weight.dtype)


@register
class SGD(Optimizer):
    """SGD with optional momentum: ``mom = momentum * mom - lr * (g + wd * w); w += mom`` (plain
    ``w -= lr * (g + wd * w)`` at momentum 0), g the rescaled, clipped gradient. With
    ``multi_precision``, float16 weights run the ``mp_`` operators on a float32 master copy.
    Lists of weights (a Trainer's step) go through ``multi_sgd_update`` and its kin, up to
    ``aggregate_num`` (BRASS_OPTIMIZER_AGGREGATION_SIZE, default 4) per call."""

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = int(os.environ.get("BRASS_OPTIMIZER_AGGREGATION_SIZE", "4"))

    def create_state_multi_precision(self, index, weight):
        if self._wants_master_copy(weight):
            master = weight.astype(np.float32)
            return (self.create_state(index, master), master)
        return super().create_state_multi_precision(index, weight)

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def _kwargs(self):
        kw = self._common_kwargs()
        if self.momentum > 0:
            kw["momentum"] = self.momentum
        return kw

    def _update_impl(self, indices, weights, grads, states, mp):
        if not isinstance(indices, (list, tuple)):
            indices, weights, grads, states = [indices], [weights], [grads], [states]
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        kw = self._kwargs()
        has_mom = (states[0][0] if mp else states[0]) is not None
        if len(indices) > 1 and self.aggregate_num > 1:
            step = self.aggregate_num
            for b in range(0, len(indices), step):
                ws, gs, ss = weights[b:b + step], grads[b:b + step], states[b:b + step]
                args = []
                for w, g, s in zip(ws, gs, ss):
                    args += [w, g]
                    if mp:
                        args += ([s[0]] if has_mom else []) + [s[1]]
                    elif has_mom:
                        args.append(s)
                op = {(False, False): nd.multi_sgd_update, (False, True): nd.multi_sgd_mom_update,
                      (True, False): nd.multi_mp_sgd_update, (True, True): nd.multi_mp_sgd_mom_update}[(mp, has_mom)]
                op(*args, out=list(ws), lrs=tuple(lrs[b:b + step]), wds=tuple(wds[b:b + step]),
                   num_weights=len(ws), **kw)
            return
        for w, g, s, lr, wd in zip(weights, grads, states, lrs, wds):
            if not mp:
                if s is not None:
                    nd.sgd_mom_update(w, g, s, out=w, lazy_update=self.lazy_update, lr=lr, wd=wd, **kw)
                else:
                    nd.sgd_update(w, g, out=w, lazy_update=self.lazy_update, lr=lr, wd=wd, **kw)
            elif s[0] is not None:
                nd.mp_sgd_mom_update(w, g, s[0], s[1], out=w, lr=lr, wd=wd, **kw)
            else:
                nd.mp_sgd_update(w, g, s[1], out=w, lr=lr, wd=wd, **kw)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state, False)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(weight, (list, tuple)) else weight
        self._update_impl(index, weight, grad, state, self._wants_master_copy(first))


@register
class NAG(SGD):
    """Nesterov accelerated gradient: ``mom = momentum * mom + g + wd * w; w -= lr * (g + wd * w
    + momentum * mom)`` (plain SGD at momentum 0); float16 weights with ``multi_precision`` run
    ``mp_nag_mom_update`` on a float32 master copy."""

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.aggregate_num = 0

    def _update_impl(self, indices, weights, grads, states, mp):
        if isinstance(indices, (list, tuple)):
            for i, w, g, s in zip(indices, weights, grads, states):
                self._update_impl(i, w, g, s, mp)
            return
        self._update_count(indices)
        lr, wd = self._get_lr(indices), self._get_wd(indices)
        kw = self._kwargs()
        mom = states[0] if mp else states
        if not mp:
            if mom is not None:
                nd.nag_mom_update(weights, grads, mom, out=weights, lr=lr, wd=wd, **kw)
            else:
                nd.sgd_update(weights, grads, out=weights, lr=lr, wd=wd, **kw)
        elif mom is not None:
            nd.mp_nag_mom_update(weights, grads, mom, states[1], out=weights, lr=lr, wd=wd, **kw)
        else:
            nd.mp_sgd_update(weights, grads, states[1], out=weights, lr=lr, wd=wd, **kw)


@register
class Adam(Optimizer):
    """Adam (Kingma & Ba): ``mean = b1 * mean + (1 - b1) * g; var = b2 * var + (1 - b2) * g^2;
    w -= lr_t * mean / (sqrt(var) + epsilon)``, g = rescaled, clipped gradient + wd * w, and
    lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t) at the weight's t-th update."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _corrected(self, index, lr):
        t = self._index_update_count[index]
        return lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._corrected(index, self._get_lr(index)), self._get_wd(index)
        mean, var = state
        nd.adam_update(weight, grad, mean, var, out=weight, lazy_update=self.lazy_update, lr=lr, wd=wd,
                       beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon, **self._common_kwargs())


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= eta * (c_t * mean /
    (sqrt(var) + epsilon) + wd * w)``, eta the (scheduled) learning rate and c_t = sqrt(1 - b2^t)
    / (1 - b1^t) when ``correct_bias`` (else 1); the moments as in Adam, from the gradient
    alone. float16 weights with ``multi_precision`` run ``_mp_adamw_update``."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6, correct_bias=True, **kwargs):
        super().__init__(learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon, **kwargs)
        self.correct_bias = correct_bias

    def create_state_multi_precision(self, index, weight):
        if self._wants_master_copy(weight):
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        return super().create_state_multi_precision(index, weight)

    def _step(self, index, weight, grad, state, master):
        self._update_count(index)
        eta, wd = self._get_lr(index), self._get_wd(index)
        coef = self._corrected(index, 1.0) if self.correct_bias else 1.0
        kw = dict(lr=coef, eta=eta, wd=wd, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
        if self.clip_gradient:
            kw["clip_gradient"] = self.clip_gradient
        rescale = nd.full((1,), self.rescale_grad, ctx=weight.context, dtype=np.float32)
        mean, var = state
        if master is None:
            nd._adamw_update(weight, grad, mean, var, rescale, out=weight, **kw)
        else:
            nd._mp_adamw_update(weight, grad, mean, var, master, rescale, out=weight, **kw)

    def update(self, index, weight, grad, state):
        self._step(index, weight, grad, state, None)

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)):
            for i, w, g, s in zip(index, weight, grad, state):
                self.update_multi_precision(i, w, g, s)
        elif self._wants_master_copy(weight):
            self._step(index, weight, grad, state[1], state[0])
        else:
            self._step(index, weight, grad, state, None)


@register
class RMSProp(Optimizer):
    """RMSProp: ``n = (1 - gamma1) * g^2 + gamma1 * n; w -= lr * g / sqrt(n + epsilon)``; with
    ``centered``, Graves' version (``rmspropalex_update``: n, g and delta, momentum gamma2).
    ``clip_weights`` clips the new weights to [-c, c]."""

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8, centered=False,
                 clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered = centered
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kw = self._common_kwargs()
        kw.update(gamma1=self.gamma1, epsilon=self.epsilon)
        if self.clip_weights:
            kw["clip_weights"] = self.clip_weights
        if self.centered:
            n, g, delta = state
            nd.rmspropalex_update(weight, grad, n, g, delta, out=weight, lr=lr, wd=wd, gamma2=self.gamma2, **kw)
        else:
            (n,) = state
            nd.rmsprop_update(weight, grad, n, out=weight, lr=lr, wd=wd, **kw)


@register
class AdaGrad(Optimizer):
    """AdaGrad: ``history += g^2; w -= lr * (g / sqrt(history + eps) + wd * w)``."""

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        nd.adagrad_update(weight, grad, state, out=weight, lr=lr, wd=wd, epsilon=self.float_stable_eps,
                          **self._common_kwargs())


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler; no learning rate): ``acc_g = rho * acc_g + (1 - rho) * g^2; d =
    sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * g; acc_delta = rho * acc_delta + (1 -
    rho) * d^2; w -= d + wd * w``."""

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        wd = self._get_wd(index)
        self._update_count(index)
        g = grad * self.rescale_grad
        if self.clip_gradient:
            g = nd.clip(g, -self.clip_gradient, self.clip_gradient)
        acc_g, acc_delta = state
        acc_g[:] = acc_g * self.rho + (1.0 - self.rho) * g * g
        delta = nd.sqrt(acc_delta + self.epsilon) / nd.sqrt(acc_g + self.epsilon) * g
        acc_delta[:] = acc_delta * self.rho + (1.0 - self.rho) * delta * delta
        weight[:] = weight - (delta + wd * weight)


@register
class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al.), ``ftrl_update``: z and n per weight, L1 ``lamda1``,
    ``beta``, L2 ``wd``."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lamda1, self.beta = lamda1, beta

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        z, n = state
        nd.ftrl_update(weight, grad, z, n, out=weight, lr=lr, wd=wd, lamda1=self.lamda1, beta=self.beta,
                       **self._common_kwargs())


@register
class Signum(Optimizer):
    """Signum (Bernstein et al.): the sign of a momentum of gradients, ``signum_update``
    (``signsgd_update`` at momentum 0); ``wd_lh`` is decoupled weight decay (with momentum)."""

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.wd_lh = momentum, wd_lh

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        kw = self._common_kwargs()
        if state is not None:
            nd.signum_update(weight, grad, state, out=weight, lr=lr, wd=wd, momentum=self.momentum,
                             wd_lh=self.wd_lh, **kw)
        else:
            nd.signsgd_update(weight, grad, out=weight, lr=lr, wd=wd, **kw)


@register
class LAMB(Optimizer):
    """LAMB (You et al.): the Adam direction plus ``wd * w`` (``lamb_update_phase1``, with the
    bias correction at the weight's t-th update), then ``w -= lr * r1 / r2 * direction`` with
    r1 = ||w|| clipped to [lower_bound, upper_bound] where given and r2 = ||direction||
    (``lamb_update_phase2``)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6, lower_bound=None,
                 upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        mean, var = state
        direction = nd.lamb_update_phase1(weight, grad, mean, var, t=t, wd=wd, beta1=self.beta1, beta2=self.beta2,
                                          epsilon=self.epsilon, bias_correction=self.bias_correction,
                                          **self._common_kwargs())
        kw = {}
        if self.lower_bound:
            kw["lower_bound"] = self.lower_bound
        if self.upper_bound:
            kw["upper_bound"] = self.upper_bound
        nd.lamb_update_phase2(weight, direction, nd.norm(weight), nd.norm(direction), out=weight, lr=lr, **kw)


class Updater:
    """Applies an optimizer to (index, grad, weight) triples, keeping each index's state:
    ``updater(index, grad, weight)`` (or lists of each). ``get_states``/``set_states`` pickle
    the states (and, with ``dump_optimizer``, the optimizer)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        if not isinstance(index, (list, tuple)):
            index, grad, weight = [index], [grad], [weight]
        index = [i.decode() if isinstance(i, bytes) else i for i in index]
        for i, w in zip(index, weight):
            if not isinstance(w, NDArray):
                raise BrassError("optimizer: weight %r is a %s, not an NDArray" % (i, type(w).__name__))
            if i not in self.states:
                self.states[i] = self.optimizer.create_state_multi_precision(i, w)
                self.states_synced[i] = True
            elif not self.states_synced[i]:
                self.states[i] = self.sync_state_context(self.states[i], w.context)
                self.states_synced[i] = True
        # Each device's copy of a weight counts its own updates (Adam's t, schedules).
        self.optimizer._set_current_context(weight[0].context.device_id)
        for i, w, g in zip(index, weight, grad):
            if w.shape != g.shape:
                raise BrassError("optimizer: weight %r has shape %s but its gradient %s" % (i, w.shape, g.shape))
        if len(index) > 1 and self.optimizer.aggregate_num > 1:
            # One call per dtype (the multi_ operators take one dtype at a time).
            groups = {}
            for i, w, g in zip(index, weight, grad):
                groups.setdefault(w.dtype, []).append((i, w, g))
            for items in groups.values():
                ids, ws, gs = zip(*items)
                self.optimizer.update_multi_precision(list(ids), list(ws), list(gs),
                                                      [self.states[i] for i in ids])
        else:
            for i, w, g in zip(index, weight, grad):
                self.optimizer.update_multi_precision(i, w, g, self.states[i])

    def sync_state_context(self, state, context):
        """The state with its arrays on ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Restores states written by ``get_states`` (with the optimizer, when it was dumped)."""
        loaded = pickle.loads(states)
        if isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[1], Optimizer):
            self.states, self.optimizer = loaded
        else:
            self.states = loaded
        self.states_synced = dict.fromkeys(self.states, False)

    def get_states(self, dump_optimizer=False):
        """The states (and the optimizer, with ``dump_optimizer``) as bytes."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """An Updater for ``optimizer``."""
    return Updater(optimizer)
