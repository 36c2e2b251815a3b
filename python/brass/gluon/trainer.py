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
    (``ignore_stale_grad=True`` skips it instead). ``kvstore`` and ``update_on_kvstore`` are
    accepted; with one device per parameter there is nothing to reduce and the update runs
    here."""

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
        self._compression_params = compression_params
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        self._kvstore = None
        self._update_on_kvstore = False
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
        """One update of every parameter, gradients scaled by 1 / batch_size."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self):
        """Sums each parameter's gradients over its devices (with one device: nothing to do)."""
        self._allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        """The update half of ``step`` (after ``allreduce_grads``)."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._update(ignore_stale_grad)

    def _allreduce_grads(self):
        for p in self._params:
            if p.grad_req != "null" and len(p.list_grad()) > 1:
                grads = p.list_grad()
                total = grads[0].copy()
                for g in grads[1:]:
                    total += g.as_in_context(total.context)
                for g in grads:
                    total.copyto(g)

    def _update(self, ignore_stale_grad=False):
        live = [(i, p) for i, p in enumerate(self._params) if p.grad_req != "null"]
        if not ignore_stale_grad:  # every parameter checked before any is updated
            for _, p in live:
                for d in p.list_data():
                    if not d._fresh_grad:
                        raise BrassError(
                            "Trainer: the gradient of Parameter '%s' on %s has not been written by a backward "
                            "since the last step: the model may use only some of its parameters in this "
                            "iteration (step(..., ignore_stale_grad=True) skips such parameters)"
                            % (p.name, d.context))
        updates = [[] for _ in self._updaters]
        for i, p in live:
            for upd, d, g in zip(updates, p.list_data(), p.list_grad()):
                if d._fresh_grad:
                    upd.append((i, g, d))
                    d._fresh_grad = False
        for updater, upd in zip(self._updaters, updates):
            if upd:
                idx, grads, datas = zip(*upd)
                updater(list(idx), list(grads), list(datas))

    def save_states(self, fname):
        """Writes the optimizer and its states (atomically)."""
        atomic_write(fname, self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname):
        """Restores what ``save_states`` wrote."""
        with open(fname, "rb") as f:
            blob = f.read()
        try:
            for updater in self._updaters:
                updater.set_states(blob)
        except Exception as e:
            raise BrassError("Trainer.load_states: %s is not a file written by save_states (%s)" % (fname, e))
        self._optimizer = self._updaters[0].optimizer
        for updater in self._updaters:
            updater.optimizer = self._optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))
