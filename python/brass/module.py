"""The Module API (MXNet 1.x ``mx.mod.Module``): a symbol bound to an executor, with parameters,
an optimizer and ``fit`` / ``score`` / ``predict`` over data iterators.

>>> import numpy as np, brass as mx
>>> data = mx.sym.var("data")
>>> net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2, name="fc"), name="softmax")
>>> x = np.vstack([np.ones((20, 3)), -np.ones((20, 3))]).astype("float32")
>>> y = np.array([0] * 20 + [1] * 20, dtype="float32")
>>> mod = mx.mod.Module(net)
>>> mod.fit(mx.io.NDArrayIter(x, y, batch_size=10, shuffle=True), num_epoch=5,
...         optimizer_params={"learning_rate": 0.5})
>>> mod.score(mx.io.NDArrayIter(x, y, batch_size=10), "acc")
[('accuracy', 1.0)]
"""
import logging
import time

import numpy as np

from . import initializer as init_mod
from . import kvstore as kvs
from . import metric as metric_mod
from . import model
from . import ndarray as nd
from . import optimizer as opt_mod
from .base import BrassError
from .context import Context, cpu
from .io import DataDesc

__all__ = ["BaseModule", "Module"]


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _descs(shapes, kind):
    out = []
    for s in shapes or []:
        if isinstance(s, DataDesc):
            out.append(s)
        elif isinstance(s, (list, tuple)) and len(s) == 2:
            out.append(DataDesc(s[0], s[1]))
        else:
            raise BrassError("Module.bind: %s_shapes entries must be DataDesc or (name, shape), got %r" % (kind, s))
    return out


class BaseModule:
    """What every module does with its forward/backward/update: fit, score, predict."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = self.for_training = self.inputs_need_grad = False
        self.params_initialized = self.optimizer_initialized = False

    def forward_backward(self, data_batch):
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None, score_end_callback=None,
              reset=True, epoch=0, sparse_row_id_fn=None):
        """The metric over eval_data (num_batch batches at most), as [(name, value)]."""
        if not (self.binded and self.params_initialized):
            raise BrassError("Module.score: bind the module and initialize its parameters first")
        if reset:
            eval_data.reset()
        eval_metric = metric_mod.create(eval_metric)
        eval_metric.reset()
        nbatch = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            self.update_metric(eval_metric, batch.label, pre_sliced=False, pad=batch.pad)
            for cb in _as_list(batch_end_callback or []):
                cb(model.BatchEndParam(epoch, nbatch, eval_metric, locals()))
        for cb in _as_list(score_end_callback or []):
            cb(model.BatchEndParam(epoch, nbatch, eval_metric, locals()))
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yields (outputs without the padding, batch index, batch) for each batch."""
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            pad = batch.pad or 0
            outs = [o[0:o.shape[0] - pad] for o in self.get_outputs()]
            yield outs, nbatch, batch

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True, always_output_list=False,
                sparse_row_id_fn=None):
        """The outputs over eval_data, the batches' concatenated (merge_batches)."""
        if not (self.binded and self.params_initialized):
            raise BrassError("Module.predict: bind the module and initialize its parameters first")
        outs = [[o.copy() for o in out] for out, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not outs:
            return []
        if not merge_batches:
            return outs
        merged = [nd.concatenate([b[i] for b in outs]) for i in range(len(outs[0]))]
        return merged[0] if len(merged) == 1 and not always_output_list else merged

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None, batch_end_callback=None,
            kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=init_mod.Uniform(0.01), arg_params=None, aux_params=None,
            allow_missing=False, force_rebind=False, force_init=False, begin_epoch=0, num_epoch=None,
            validation_metric=None, monitor=None, sparse_row_id_fn=None):
        """Trains for epochs begin_epoch .. num_epoch - 1 over train_data, scoring eval_data after
        each; callbacks as MXNet's."""
        if num_epoch is None:
            raise BrassError("Module.fit: num_epoch must be given")
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label, for_training=True,
                  force_rebind=force_rebind)
        self.init_params(initializer=initializer, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer, optimizer_params=optimizer_params)
        validation_metric = validation_metric or eval_metric
        eval_metric = metric_mod.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            nbatch = 0
            train_data.reset()
            for nbatch, batch in enumerate(train_data):
                self.forward_backward(batch)
                self.update()
                self.update_metric(eval_metric, batch.label, pad=batch.pad)
                for cb in _as_list(batch_end_callback or []):
                    cb(model.BatchEndParam(epoch, nbatch, eval_metric, locals()))
            for name, val in eval_metric.get_name_value():
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            arg_params, aux_params = self.get_params()
            for cb in _as_list(epoch_end_callback or []):
                cb(epoch, self.symbol, arg_params, aux_params)
            if eval_data is not None:
                res = self.score(eval_data, validation_metric, score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback, epoch=epoch)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)


class Module(BaseModule):
    """A symbol with ``data_names`` and ``label_names`` inputs (the rest are parameters, those
    in ``fixed_param_names`` not learned) on ``context``: one device, or a list over which
    each batch is split (``work_load_list`` weighs the parts; equal by default), one
    executor per device, gradients summed through a kvstore and every copy of the
    parameters kept equal (MXNet's data parallelism)."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",), logger=logging,
                 context=None, work_load_list=None, fixed_param_names=None, state_names=None, group2ctxs=None,
                 compression_params=None):
        super().__init__(logger)
        ctxs = _as_list(context) if context is not None else [cpu()]
        self._contexts = [c if isinstance(c, Context) else Context(c) for c in ctxs]
        if not self._contexts or len(set(self._contexts)) != len(self._contexts):
            raise BrassError("Module: context must be a device or a list of distinct devices, got %s" % (ctxs,))
        self._work_load = list(work_load_list) if work_load_list is not None else [1] * len(self._contexts)
        if len(self._work_load) != len(self._contexts) or any(w <= 0 for w in self._work_load):
            raise BrassError("Module: work_load_list %s must hold one positive weight per context (%d)"
                             % (work_load_list, len(self._contexts)))
        if compression_params:
            raise BrassError("Module: gradient compression is not supported (compression_params=%r)"
                             % (compression_params,))
        self.symbol = symbol
        args = symbol.list_arguments()
        self._data_names = list(data_names or [])
        self._label_names = [n for n in (label_names or []) if n in args]
        for n in self._data_names:
            if n not in args:
                raise BrassError("Module: data name %r is not an argument of the symbol (arguments: %s)" % (n, args))
        self._fixed_param_names = list(fixed_param_names or [])
        inputs = set(self._data_names) | set(self._label_names)
        self._param_names = [n for n in args if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._execs = []
        self._slices = []             # each device's part of the batch: (begin, end)
        self._preload = None          # (arg_params, aux_params) from Module.load, for init_params
        self._preload_states = None   # the optimizer states file Module.load names, for init_optimizer
        self._optimizer = None
        self._updaters = []
        self._kvstore = None
        self._update_on_kvstore = False
        self._data_shapes = self._label_shapes = None

    # ---- names and shapes ---------------------------------------------------------------
    data_names = property(lambda self: self._data_names)
    label_names = property(lambda self: self._label_names)
    output_names = property(lambda self: self._output_names)
    data_shapes = property(lambda self: self._data_shapes)
    label_shapes = property(lambda self: self._label_shapes)

    @property
    def _exec(self):
        return self._execs[0]

    @property
    def output_shapes(self):
        self._need("bind")
        return list(zip(self._output_names, [o.shape for o in self.get_outputs()]))

    def _need(self, what):
        ok = {"bind": self.binded, "params": self.params_initialized, "optimizer": self.optimizer_initialized}[what]
        if not ok:
            raise BrassError({"bind": "Module: call bind() first",
                              "params": "Module: call init_params() first",
                              "optimizer": "Module: call init_optimizer() first"}[what])

    def _split(self, batch):
        """(begin, end) of each device's part of a batch, by the work loads (MXNet's rule:
        rounded shares, the last part takes what rounding leaves)."""
        total = float(sum(self._work_load))
        sizes = [int(round(w * batch / total)) for w in self._work_load]
        sizes[-1] += batch - sum(sizes)
        if any(n <= 0 for n in sizes):
            raise BrassError("Module: a batch of %d cannot be split over %d devices with work loads %s (a part "
                             "would be empty)" % (batch, len(self._contexts), self._work_load))
        bounds = np.cumsum([0] + sizes)
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    # ---- binding and parameters ---------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False, force_rebind=False,
             shared_module=None, grad_req="write"):
        """Allocates the executors for these input shapes (and the gradients when
        for_training): on each device, its part of the batch."""
        if self.binded and not force_rebind:
            self.logger.warning("Module.bind: already bound, ignoring bind()")
            return
        data = _descs(data_shapes, "data")
        label = _descs(label_shapes, "label") if label_shapes else []
        names = [d.name for d in data]
        if sorted(names) != sorted(self._data_names):
            raise BrassError("Module.bind: data shapes are given for %s but the module's data names are %s"
                             % (names, self._data_names))
        lnames = [d.name for d in label]
        if label and sorted(lnames) != sorted(self._label_names):
            raise BrassError("Module.bind: label shapes are given for %s but the module's label names are %s"
                             % (lnames, self._label_names))
        reqs = {}
        for n in self.symbol.list_arguments():
            if n in self._data_names:
                reqs[n] = grad_req if inputs_need_grad and for_training else "null"
            elif n in self._label_names or n in self._fixed_param_names or not for_training:
                reqs[n] = "null"
            else:
                reqs[n] = grad_req
        batch = tuple(data[0].shape)[0]
        slices = self._split(batch)
        old = self._execs
        types = {d.name: np.dtype(getattr(d, "dtype", np.float32)).name for d in data + label}
        execs = []
        for ctx, (a, b) in zip(self._contexts, slices):
            shapes = {d.name: (b - a,) + tuple(d.shape)[1:] for d in data + label}
            execs.append(self.symbol.simple_bind(ctx, grad_req=reqs, type_dict=types, **shapes))
        self._execs, self._slices = execs, slices
        self._data_shapes, self._label_shapes = data, label or None
        self.binded, self.for_training, self.inputs_need_grad = True, for_training, inputs_need_grad
        if old and self.params_initialized:  # keep the values through a rebind
            for e in self._execs:
                e.copy_params_from(*self._params_from(old[0]), allow_extra_params=True)

    def _params_from(self, exe):
        return ({n: exe.arg_dict[n] for n in self._param_names}, {n: exe.aux_dict[n] for n in self._aux_names})

    def init_params(self, initializer=init_mod.Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Fills the parameters: from arg_params / aux_params where given, else by initializer
        (only with allow_missing when the dicts are given); every device gets the same values."""
        if self.params_initialized and not force_init:
            self.logger.warning("Module.init_params: parameters already initialized, ignoring")
            return
        self._need("bind")
        if self._preload is not None:  # a loaded checkpoint fills what the caller leaves out
            arg_params = self._preload[0] if arg_params is None else arg_params
            aux_params = self._preload[1] if aux_params is None else aux_params
        attrs = self.symbol.attr_dict()

        def fill(name, arr, given, kind):
            if given is not None and name in given:
                src = given[name]
                if tuple(src.shape) != tuple(arr.shape):
                    raise BrassError("Module.init_params: %s %r has shape %s, the module's is %s"
                                     % (kind, name, tuple(src.shape), tuple(arr.shape)))
                (src if isinstance(src, nd.NDArray) else nd.array(src)).astype(arr.dtype).copyto(arr)
            elif given is not None and not allow_missing:
                raise BrassError("Module.init_params: %s %r is missing from the given parameters "
                                 "(allow_missing=True initializes it instead)" % (kind, name))
            elif initializer is not None:
                initializer(init_mod.InitDesc(name, attrs.get(name, {})), arr)

        first = self._execs[0]
        for n in self._param_names:
            fill(n, first.arg_dict[n], arg_params, "argument")
        for n in self._aux_names:
            fill(n, first.aux_dict[n], aux_params, "auxiliary state")
        if not allow_extra:
            extra = [n for n in (arg_params or {}) if n not in self._param_names] + \
                    [n for n in (aux_params or {}) if n not in self._aux_names]
            if extra:
                raise BrassError("Module.init_params: the given parameters %s are not in the symbol "
                                 "(allow_extra=True ignores them)" % sorted(extra))
        for e in self._execs[1:]:
            e.copy_params_from(*self._params_from(first))
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True, allow_extra=False):
        """Copies the given parameters in (init_params with no initializer)."""
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init, allow_extra=allow_extra)

    def get_params(self):
        """(arg_params, aux_params): copies of the parameters on the CPU (the mean over the
        devices: equal for parameters, the devices' own statistics for auxiliary states)."""
        self._need("params")
        per_dev = [self._params_from(e) for e in self._execs]

        def mean(arrays):
            if len(arrays) == 1:
                return arrays[0].copyto(cpu())
            return nd.add_n(*[a.as_in_context(cpu()) for a in arrays]) / len(arrays)
        return tuple({k: mean([d[i][k] for d in per_dev]) for k in per_dev[0][i]} for i in (0, 1))

    # ---- optimizer ----------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),),
                       force_init=False):
        """Makes the optimizer (rescale_grad 1 / batch size unless given) and its updaters;
        over several devices also the kvstore ('local', 'device', a KVStore; None sums the
        gradients without one), which runs the updates itself unless a 'local' store would
        hold a parameter of more than 16M elements."""
        self._need("params")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("Module.init_optimizer: optimizer already initialized, ignoring")
            return
        batch = self._data_shapes[0].shape[DataDesc.get_batch_axis(getattr(self._data_shapes[0], "layout", "NCHW"))]
        idx2name = dict(enumerate(self._param_names))
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", 1.0 / batch)
            optimizer = opt_mod.create(optimizer, sym=self.symbol, param_idx2name=idx2name, **params)
        elif not isinstance(optimizer, opt_mod.Optimizer):
            raise BrassError("Module.init_optimizer: optimizer must be a name or an Optimizer, got %s"
                             % type(optimizer).__name__)
        else:
            optimizer.idx2name = idx2name
            optimizer.set_wd_mult({})
        self._optimizer = optimizer
        self._kvstore, self._update_on_kvstore = None, False
        if len(self._contexts) > 1 and kvstore is not None:
            self._kvstore = kvs.create(kvstore)
            args = self._params_from(self._execs[0])[0]
            self._update_on_kvstore = not (self._kvstore.type == "local" and isinstance(kvstore, str) and any(
                a.size > 1 << 24 for a in args.values()))
            if self._update_on_kvstore:
                self._kvstore.set_optimizer(optimizer)
            for i, n in enumerate(self._param_names):
                self._kvstore.init(i, args[n])
        self._updaters = [opt_mod.get_updater(optimizer) for _ in self._contexts]
        self.optimizer_initialized = True
        if self._preload_states:
            self.load_optimizer_states(self._preload_states)

    # ---- computing ----------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Runs the network on a DataBatch, each device on its part (a batch of another size
        than bound rebinds)."""
        self._need("bind")
        if is_train is None:
            is_train = self.for_training
        data = list(data_batch.data)
        if len(data) != len(self._data_names):
            raise BrassError("Module.forward: the batch has %d data arrays, the module %d (%s)"
                             % (len(data), len(self._data_names), self._data_names))
        shapes = {n: tuple(a.shape) for n, a in zip(self._data_names, data)}
        for d in self._data_shapes:
            s, bound = shapes[d.name], tuple(d.shape)
            if len(s) != len(bound) or s[1:] != bound[1:]:
                raise BrassError("Module.forward: data %r has shape %s; the module is bound for %s (only the "
                                 "batch size may change)" % (d.name, s, bound))
        if any(tuple(d.shape) != shapes[d.name] for d in self._data_shapes):
            new_data = [DataDesc(n, shapes[n]) for n in self._data_names]
            new_label = None
            if self._label_shapes and data_batch.label:
                new_label = [DataDesc(d.name, tuple(a.shape)) for d, a in zip(self._label_shapes, data_batch.label)]
            self.bind(new_data, new_label, self.for_training, self.inputs_need_grad, force_rebind=True)
        labels = list(data_batch.label or []) if self._label_names else []
        batch = self._slices[-1][1]
        for n, a in zip(self._label_names, labels):
            if tuple(a.shape)[:1] != (batch,):
                raise BrassError("Module.forward: label %r has shape %s, the module is bound for a batch of %d"
                                 % (n, tuple(a.shape), batch))
        for e, (lo, hi) in zip(self._execs, self._slices):
            for n, a in zip(self._data_names + self._label_names, data + labels):
                part = a if len(self._execs) == 1 else a[lo:hi]
                dst = e.arg_dict[n]
                if tuple(part.shape) != dst.shape:
                    raise BrassError("Module.forward: %s %r has shape %s, the module is bound for %s"
                                     % ("data" if n in self._data_names else "label", n, tuple(a.shape),
                                        (batch,) + dst.shape[1:]))
                (part if part.dtype == dst.dtype else part.astype(dst.dtype)).copyto(dst)
        for e in self._execs:
            e.forward(is_train=is_train)

    def backward(self, out_grads=None):
        self._need("bind")
        if not self.for_training:
            raise BrassError("Module.backward: bound with for_training=False")
        for e, (lo, hi) in zip(self._execs, self._slices):
            if out_grads is None or len(self._execs) == 1:
                e.backward(out_grads)
            else:
                e.backward([g[lo:hi].as_in_context(e.outputs[0].context) for g in _as_list(out_grads)])

    def update(self):
        """One optimizer step on every learned parameter (gradients summed over the devices)."""
        self._need("optimizer")
        per_dev = [([], [], []) for _ in self._execs]
        for i, n in enumerate(self._param_names):
            grads = [e.grad_dict.get(n) for e in self._execs]
            if grads[0] is None:
                continue
            weights = [e.arg_dict[n] for e in self._execs]
            if self._kvstore is not None:
                self._kvstore.push(i, grads, priority=-i)
                if self._update_on_kvstore:
                    self._kvstore.pull(i, weights, priority=-i)
                    continue
                self._kvstore.pull(i, grads, priority=-i)
            elif len(grads) > 1:  # no store: sum on the first device, copy back
                total = nd.add_n(*[g.as_in_context(grads[0].context) for g in grads])
                for g in grads:
                    total.copyto(g)
            for k, (g, w) in enumerate(zip(grads, weights)):
                per_dev[k][0].append(i)
                per_dev[k][1].append(g)
                per_dev[k][2].append(w)
        for updater, (idx, grads, weights) in zip(self._updaters, per_dev):
            if idx:
                updater(idx, grads, weights)

    def _merge(self, per_dev, merge_multi_context):
        """Outputs (or input gradients) by name: per device, or concatenated along the batch
        on the first device."""
        if not merge_multi_context:
            return [list(arrays) for arrays in zip(*per_dev)]
        if len(per_dev) == 1:
            return list(per_dev[0])
        first = self._contexts[0]
        return [nd.concat(*[a.as_in_context(first) for a in arrays], dim=0) for arrays in zip(*per_dev)]

    def get_outputs(self, merge_multi_context=True):
        self._need("bind")
        return self._merge([e.outputs for e in self._execs], merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._need("bind")
        if not self.inputs_need_grad:
            raise BrassError("Module.get_input_grads: bind with inputs_need_grad=True")
        return self._merge([[e.grad_dict[n] for n in self._data_names] for e in self._execs], merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False, pad=None):
        outs = self.get_outputs()
        if pad:
            outs = [o[0:o.shape[0] - pad] for o in outs]
            labels = [lab[0:lab.shape[0] - pad] for lab in labels]
        eval_metric.update(labels, outs)

    # ---- files ----------------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False, remove_amp_cast=True):
        """prefix-symbol.json, prefix-%04d.params (and prefix-%04d.states), MXNet's names."""
        arg, aux = self.get_params()
        model.save_checkpoint(prefix, epoch, self.symbol, arg, aux)
        if save_optimizer_states:
            self.save_optimizer_states("%s-%04d.states" % (prefix, epoch))

    def save_optimizer_states(self, fname):
        from .base import atomic_write

        self._need("optimizer")
        # With the optimizer (its per-weight update counts: Adam's bias correction resumes where
        # it stopped); load_optimizer_states also takes a file of states alone.
        if self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname, dump_optimizer=True)
        else:  # the devices' updaters hold equal states: the first one's
            atomic_write(fname, self._updaters[0].get_states(dump_optimizer=True))

    def load_optimizer_states(self, fname):
        self._need("optimizer")
        with open(fname, "rb") as f:
            blob = f.read()
        updaters = [self._kvstore._updater] if self._update_on_kvstore else self._updaters
        try:
            for updater in updaters:
                updater.set_states(blob)
        except Exception as e:
            raise BrassError("Module.load_optimizer_states: %s is not a states file (%s)" % (fname, e)) from None
        self._optimizer = updaters[0].optimizer
        for updater in set(self._updaters + updaters):
            updater.optimizer = self._optimizer
        if self._update_on_kvstore:
            self._kvstore._optimizer = self._optimizer
        self._optimizer.idx2name = dict(enumerate(self._param_names))

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module from save_checkpoint's files (parameters applied at init_params / fit)."""
        sym, args, auxs = model.load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._preload = (args, auxs)
        mod._preload_states = "%s-%04d.states" % (prefix, epoch) if load_optimizer_states else None
        return mod
