"""gluon.Trainer (MXNet 1.x): applies an optimizer to a set of Parameters after each backward.

>>> import brass as mx
>>> from brass import gluon, autograd
>>> net = gluon.nn.Dense(1, in_units=2, prefix="d_")
>>> net.initialize(mx.init.One())
>>> trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
>>> with autograd.record():
...     loss = net(mx.nd.array([[1.0, 2.0]])).sum()
>>> loss.backward()
>>> trainer.step(1)
>>> net.weight.data().asnumpy().tolist()
[[0.8999999761581421, 0.800000011920929]]
"""
import numpy as np

from .. import kvstore as kvs
from .. import optimizer as opt
from ..base import BrassError, atomic_write
from .parameter import Parameter, ParameterDict

__all__ = ["Trainer"]


class Trainer:
    """Updates ``params`` (a ParameterDict, a dict or a list of Parameters) with ``optimizer``
    (a name with ``optimizer_params``, or an Optimizer). ``step(batch_size)`` scales the
    gradients by 1 / batch_size (times the optimizer's rescale_grad) and updates every
    parameter whose grad_req is not 'null'; ``allreduce_grads`` and ``update`` are its two
    halves. A parameter whose gradient no backward has written since the last update raises
    (``ignore_stale_grad=True`` skips it instead).

    Parameters on several devices (``initialize(ctx=[...])``) are kept equal: ``kvstore``
    ('device', 'local', a KVStore, or None) sums each gradient over the devices, and with
    ``update_on_kvstore`` (the default for a store, unless a 'local' store holds a parameter
    of more than 16M elements) the store runs the optimizer once on its copy and every
    device pulls the result; otherwise each device runs the same update on the summed
    gradient (each with its own optimizer state). With one device there is nothing to
    reduce: no store is made and the update runs here."""

    def __init__(self, params, optimizer, optimizer_params=None, kvstore="device", compression_params=None,
                 update_on_kvstore=None):
        if isinstance(params, (dict, ParameterDict)):
            params = [params[k] for k in sorted(params.keys())]
        if not isinstance(params, (list, tuple)):
            raise BrassError("Trainer: params must be a ParameterDict, a dict or a list of Parameters, got %s"
                             % type(params).__name__)
        self._params = []
        self._param2idx = {}
        for p in params:
            if not isinstance(p, Parameter):
                raise BrassError("Trainer: params must hold Parameters, got a %s" % type(p).__name__)
            if p.name in self._param2idx:
                raise BrassError("Trainer: parameter %r is given twice" % p.name)
            self._param2idx[p.name] = len(self._params)
            self._params.append(p)
        if compression_params:
            raise BrassError("Trainer: gradient compression is not supported (compression_params=%r)"
                             % (compression_params,), 10)
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        self._kvstore = None
        self._kv_initialized = False
        self._update_on_kvstore = False
        self._contexts = None
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad

    def _init_optimizer(self, optimizer, optimizer_params):
        # The Parameters themselves (not copies): lr_mult / wd_mult changed later take effect.
        param_dict = dict(enumerate(self._params))
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise BrassError("Trainer: optimizer_params must be empty when optimizer is an Optimizer")
            self._optimizer = optimizer
            self._optimizer.param_dict = param_dict
        else:
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        self._updaters = [opt.get_updater(self._optimizer)]

    def _check_contexts(self):
        contexts = None
        for p in self._params:
            ctx = p.list_ctx()
            if contexts is not None and contexts != ctx:
                raise BrassError("Trainer: all parameters must be on the same contexts, but '%s' is on %s and "
                                 "'%s' on %s" % (self._params[0].name, contexts, p.name, ctx), 4)
            contexts = ctx
        return contexts or []

    def _init_kvstore(self):
        """Decides on the store at the first step (parameters may be initialized late) and
        seeds it with every parameter's value."""
        self._contexts = self._check_contexts()
        config = self._kvstore_params
        store, update_on_kv = config["kvstore"], True
        if store is None or (isinstance(store, str) and len(self._contexts) <= 1):
            store = None
        else:
            store = kvs.create(store)
            if store.type == "local" and isinstance(config["kvstore"], str) and any(
                    int(np.prod(p.shape)) > 1 << 24 for p in self._params):
                update_on_kv = False  # huge arrays: one CPU update would be the bottleneck
        if config["update_on_kvstore"] is not None:
            update_on_kv = bool(config["update_on_kvstore"])
        if store is None and config["update_on_kvstore"]:
            raise BrassError("Trainer: update_on_kvstore=True needs a kvstore (and parameters on several devices, "
                             "or a KVStore object)", 1)
        self._kvstore = store
        self._update_on_kvstore = store is not None and update_on_kv
        if store is not None:
            if self._update_on_kvstore:
                store.set_optimizer(self._optimizer)
            for i, p in enumerate(self._params):
                store.init(i, p.list_data()[0])
                if self._update_on_kvstore:
                    store.pull(i, p.list_data())
        self._updaters = [self._updaters[0]] + [opt.get_updater(self._optimizer)
                                                for _ in range(len(self._contexts) - 1)]
        self._kv_initialized = True

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @property
    def optimizer(self):
        return self._optimizer

    def set_learning_rate(self, lr):
        """Sets the optimizer's learning rate (not possible with an lr_scheduler)."""
        self._optimizer.set_learning_rate(lr)

    def step(self, batch_size, ignore_stale_grad=False):
        """One update of every parameter, gradients scaled by 1 / batch_size (the batch over
        all devices)."""
        if not self._kv_initialized:
            self._init_kvstore()
        self._optimizer.rescale_grad = self._scale / batch_size
        self._allreduce_grads(ignore_stale_grad)
        self._update(ignore_stale_grad)

    def allreduce_grads(self):
        """Sums each parameter's gradients over its devices (not available when the store
        runs the updates)."""
        if not self._kv_initialized:
            self._init_kvstore()
        if self._update_on_kvstore:
            raise BrassError("Trainer.allreduce_grads: the parameters are updated on the kvstore; make the "
                             "Trainer with update_on_kvstore=False to reduce and update separately", 1)
        self._allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        """The update half of ``step`` (after ``allreduce_grads``)."""
        if not self._kv_initialized:
            self._init_kvstore()
        if self._update_on_kvstore:
            raise BrassError("Trainer.update: the parameters are updated on the kvstore; make the Trainer "
                             "with update_on_kvstore=False to reduce and update separately", 1)
        self._optimizer.rescale_grad = self._scale / batch_size
        self._update(ignore_stale_grad)

    def _live(self, ignore_stale_grad):
        """(index, parameter) of the parameters to update; stale gradients raise unless
        ignored (then those parameters are left out), all checked before anything changes."""
        live = [(i, p) for i, p in enumerate(self._params) if p.grad_req != "null"]
        if not ignore_stale_grad:
            for _, p in live:
                for d in p.list_data():
                    if not d._fresh_grad:
                        raise BrassError(
                            "Trainer: the gradient of Parameter '%s' on %s has not been written by a backward "
                            "since the last step: the model may use only some of its parameters in this "
                            "iteration (step(..., ignore_stale_grad=True) skips such parameters)"
                            % (p.name, d.context))
        return [(i, p) for i, p in live if all(d._fresh_grad for d in p.list_data())]

    def _allreduce_grads(self, ignore_stale_grad=True):
        if self._kvstore is None:
            return
        for i, p in self._live(ignore_stale_grad):
            self._kvstore.push(i, p.list_grad(), priority=-i)
            if not self._update_on_kvstore:
                self._kvstore.pull(i, p.list_grad(), priority=-i)

    def _update(self, ignore_stale_grad=False):
        live = self._live(ignore_stale_grad)
        if self._update_on_kvstore:  # the store has updated its copy at the push: every device pulls it
            for i, p in live:
                self._kvstore.pull(i, p.list_data(), priority=-i)
                for d in p.list_data():
                    d._fresh_grad = False
            return
        updates = [[] for _ in self._updaters]
        for i, p in live:
            for upd, d, g in zip(updates, p.list_data(), p.list_grad()):
                upd.append((i, g, d))
                d._fresh_grad = False
        for updater, upd in zip(self._updaters, updates):
            if upd:
                idx, grads, datas = zip(*upd)
                updater(list(idx), list(grads), list(datas))

    def save_states(self, fname):
        """Writes the optimizer and its states (atomically)."""
        if not self._kv_initialized:
            self._init_kvstore()
        if self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname, dump_optimizer=True)
        else:
            atomic_write(fname, self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname):
        """Restores what ``save_states`` wrote."""
        if not self._kv_initialized:
            self._init_kvstore()
        with open(fname, "rb") as f:
            blob = f.read()
        updaters = [self._kvstore._updater] if self._update_on_kvstore else self._updaters
        try:
            for updater in updaters:
                updater.set_states(blob)
        except Exception as e:
            raise BrassError("Trainer.load_states: %s is not a file written by save_states (%s)" % (fname, e))
        self._optimizer = updaters[0].optimizer
        for updater in self._updaters + updaters:
            updater.optimizer = self._optimizer
        if self._update_on_kvstore:
            self._kvstore._optimizer = self._optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))
