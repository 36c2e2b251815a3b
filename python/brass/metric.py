"""Evaluation metrics (MXNet 1.x ``mx.metric``): ``update(labels, preds)`` with lists of arrays
(NDArrays or NumPy), ``get()`` -> (name, value), ``reset()``; each keeps a local and a global
(since the last full ``reset``) tally. ``create('acc')`` makes one by name.

>>> import brass as mx
>>> acc = mx.metric.Accuracy()
>>> acc.update([mx.nd.array([0, 1, 1])], [mx.nd.array([[0.7, 0.3], [0.2, 0.8], [0.9, 0.1]])])
>>> acc.get()
('accuracy', 0.6666666666666666)
"""
import math

import numpy

from .base import BrassError

__all__ = ["EvalMetric", "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC", "Perplexity", "MAE",
           "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood", "PearsonCorrelation", "Loss", "CustomMetric",
           "create", "register", "np", "check_label_shapes"]

_registry = {}


def register(klass, *aliases):
    """Makes ``klass`` available to ``create`` by its lower-case name and any aliases."""
    for name in (klass.__name__.lower(),) + aliases:
        _registry[name] = klass
    return klass


def _alias(*names):
    return lambda klass: register(klass, *names)


def _numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else numpy.asarray(x)


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Raises unless labels and preds have the same length (or, with ``shape``, shape); with
    ``wrap``, single arrays come back as one-element lists."""
    a, b = (labels.shape, preds.shape) if shape else (len(labels), len(preds))
    if a != b:
        raise BrassError("metric: the shape of the labels %s does not match that of the predictions %s"
                         % (a, b))
    if wrap:
        if not isinstance(labels, (list, tuple)):
            labels = [labels]
        if not isinstance(preds, (list, tuple)):
            preds = [preds]
    return labels, preds


class EvalMetric:
    """Base class: subclasses define ``update``; ``get`` divides the summed metric by the number of
    instances (nan before any)."""

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return "EvalMetric: {}".format(dict(self.get_name_value()))

    def get_config(self):
        """The arguments that recreate this metric with ``create``."""
        config = dict(self._kwargs)
        config.update(metric=self.__class__.__name__, name=self.name, output_names=self.output_names,
                      label_names=self.label_names)
        return config

    def update_dict(self, label, pred):
        """``update`` from dicts of named outputs and labels (selected by output_names and
        label_names when given)."""
        preds = [pred[n] for n in self.output_names] if self.output_names is not None else list(pred.values())
        labels = [label[n] for n in self.label_names] if self.label_names is not None else list(label.values())
        self.update(labels, preds)

    def update(self, labels, preds):
        raise NotImplementedError("EvalMetric subclasses define update")

    def reset(self):
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        self.num_inst = 0
        self.sum_metric = 0.0

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def get(self):
        return (self.name, self.sum_metric / self.num_inst if self.num_inst else float("nan"))

    def get_global(self):
        return (self.name, self.global_sum_metric / self.global_num_inst if self.global_num_inst else float("nan"))

    def get_name_value(self):
        name, value = self.get()
        if not isinstance(name, list):
            name, value = [name], [value]
        return list(zip(name, value))

    def get_global_name_value(self):
        name, value = self.get_global()
        if not isinstance(name, list):
            name, value = [name], [value]
        return list(zip(name, value))


@_alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; ``get`` gives the lists of their names and values."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        self.metrics = [create(m) for m in (metrics or [])]
        super().__init__(name, output_names=output_names, label_names=label_names)

    def add(self, metric):
        self.metrics.append(create(metric))

    def get_metric(self, index):
        if not 0 <= index < len(self.metrics):
            raise BrassError("CompositeEvalMetric: metric index %d out of range [0, %d)" % (index, len(self.metrics)))
        return self.metrics[index]

    def update_dict(self, labels, preds):
        for m in self.metrics:
            m.update_dict(labels, preds)

    def update(self, labels, preds):
        for m in self.metrics:
            m.update(labels, preds)

    def reset(self):
        for m in getattr(self, "metrics", []):
            m.reset()

    def reset_local(self):
        for m in self.metrics:
            m.reset_local()

    def _gather(self, which):
        names, values = [], []
        for m in self.metrics:
            n, v = getattr(m, which)()
            names += n if isinstance(n, list) else [n]
            values += v if isinstance(v, list) else [v]
        return names, values

    def get(self):
        return self._gather("get")

    def get_global(self):
        return self._gather("get_global")

    def get_config(self):
        config = super().get_config()
        config["metrics"] = [m.get_config() for m in self.metrics]
        return config


@_alias("acc")
class Accuracy(EvalMetric):
    """The fraction of predictions equal to the label; predictions with one more axis than the
    labels are class scores (argmax over ``axis``)."""

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if pred.shape != label.shape:
                pred = numpy.argmax(pred, axis=self.axis)
            pred = pred.astype(numpy.int32).ravel()
            label = label.astype(numpy.int32).ravel()
            check_label_shapes(label, pred, shape=True)
            self._add(float((pred == label).sum()), len(pred))


@_alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """The fraction of labels among the ``top_k`` highest scores of their row."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        if top_k < 1:
            raise BrassError("TopKAccuracy: top_k must be at least 1, got %r" % (top_k,))
        super().__init__("%s_%d" % (name, top_k), top_k=top_k, output_names=output_names, label_names=label_names)
        self.top_k = top_k

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred, label = _numpy(pred).astype(numpy.float32), _numpy(label).astype(numpy.int32).ravel()
            if pred.ndim > 2:
                raise BrassError("TopKAccuracy: predictions must be 1-D or 2-D, got shape %s" % (pred.shape,))
            if pred.ndim == 1:
                self._add(float((pred.astype(numpy.int32) == label).sum()), pred.shape[0])
                continue
            k = min(pred.shape[1], self.top_k)
            top = numpy.argpartition(pred, -k, axis=1)[:, -k:]
            self._add(float((top == label[:, None]).any(axis=1).sum()), pred.shape[0])


class _BinaryStats:
    """True/false positives/negatives of a binary classifier (scores of two classes, argmax)."""

    def __init__(self):
        self.tp = self.fn = self.fp = self.tn = 0

    def update(self, label, pred, who):
        label, pred = _numpy(label).astype(numpy.int32).ravel(), _numpy(pred)
        pred_label = numpy.argmax(pred, axis=1) if pred.ndim > 1 else (pred > 0.5).astype(numpy.int32)
        check_label_shapes(label, pred_label, shape=True)
        if len(numpy.unique(label)) > 2:
            raise BrassError("%s: only binary classification is supported (labels 0 and 1), got labels %s"
                             % (who, numpy.unique(label).tolist()))
        self.tp += int(((pred_label == 1) & (label == 1)).sum())
        self.fp += int(((pred_label == 1) & (label == 0)).sum())
        self.fn += int(((pred_label == 0) & (label == 1)).sum())
        self.tn += int(((pred_label == 0) & (label == 0)).sum())

    @property
    def total(self):
        return self.tp + self.fn + self.fp + self.tn

    def fscore(self):
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    def mcc(self):
        terms = [self.tp + self.fp, self.tp + self.fn, self.tn + self.fp, self.tn + self.fn]
        denom = 1.0
        for t in terms:
            if t:
                denom *= t
        return (self.tp * self.tn - self.fp * self.fn) / math.sqrt(denom)


class _Binary(EvalMetric):
    """F1 and MCC: ``average='macro'`` averages the batches' scores, 'micro' scores all samples
    together."""

    def __init__(self, name=None, output_names=None, label_names=None, average="macro"):
        name = name or type(self).__name__.lower()
        if average not in ("macro", "micro"):
            raise BrassError("%s: average must be 'macro' or 'micro', got %r" % (type(self).__name__, average))
        self.average = average
        super().__init__(name, average=average, output_names=output_names, label_names=label_names)

    def reset(self):
        super().reset()
        self._stats, self._global = _BinaryStats(), _BinaryStats()

    def reset_local(self):
        super().reset_local()
        self._stats = _BinaryStats()

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            batch = _BinaryStats()
            batch.update(label, pred, type(self).__name__)
            for s in (self._stats, self._global):
                s.tp, s.fp, s.fn, s.tn = s.tp + batch.tp, s.fp + batch.fp, s.fn + batch.fn, s.tn + batch.tn
            if self.average == "macro":
                self._add(self._score(batch), 1)
            else:
                self.num_inst += batch.total
                self.global_num_inst += batch.total
                self.sum_metric = self._score(self._stats) * self.num_inst
                self.global_sum_metric = self._score(self._global) * self.global_num_inst


@_alias("f1")
class F1(_Binary):
    """The F1 score of a binary classifier (the positive class is 1)."""
    _score = staticmethod(_BinaryStats.fscore)


@_alias("mcc")
class MCC(_Binary):
    """Matthews' correlation coefficient of a binary classifier."""
    _score = staticmethod(_BinaryStats.mcc)


@_alias("perplexity")
class Perplexity(EvalMetric):
    """exp of the mean negative log-probability of the labels (``ignore_label`` skipped); the
    class axis of the predictions is ``axis``."""

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None, label_names=None):
        super().__init__(name, ignore_label=ignore_label, axis=axis, output_names=output_names,
                         label_names=label_names)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        loss, num = 0.0, 0
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if label.size != pred.size // pred.shape[self.axis]:
                raise BrassError("Perplexity: %d labels for predictions of shape %s" % (label.size, pred.shape))
            probs = numpy.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis])
            label = label.reshape(-1).astype(numpy.int64)
            picked = probs[numpy.arange(label.size), numpy.clip(label, 0, probs.shape[1] - 1)].astype(numpy.float64)
            if self.ignore_label is not None:
                keep = label != self.ignore_label
                picked = picked[keep]
            loss -= float(numpy.log(numpy.maximum(1e-10, picked)).sum())
            num += picked.size
        self._add(loss, num)

    def get(self):
        return (self.name, math.exp(self.sum_metric / self.num_inst) if self.num_inst else float("nan"))

    def get_global(self):
        n = self.global_num_inst
        return (self.name, math.exp(self.global_sum_metric / n) if n else float("nan"))


class _Regression(EvalMetric):
    """MAE, MSE and RMSE: each batch's mean, averaged over the batches (MXNet's way); ``_batch``
    maps a batch's differences to its value."""

    def __init__(self, name=None, output_names=None, label_names=None):
        super().__init__(name or type(self).__name__.lower(), output_names=output_names, label_names=label_names)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label).astype(numpy.float64), _numpy(pred).astype(numpy.float64)
            if label.ndim == 1:
                label = label.reshape(label.shape[0], 1)
            if pred.ndim == 1:
                pred = pred.reshape(pred.shape[0], 1)
            try:
                d = label - pred  # broadcast, as MXNet does
            except ValueError:
                raise BrassError("%s: labels of shape %s for predictions of shape %s"
                                 % (type(self).__name__, label.shape, pred.shape)) from None
            self._add(float(self._batch(d)), 1)


@_alias("mae")
class MAE(_Regression):
    """Mean absolute error."""
    _batch = staticmethod(lambda d: numpy.abs(d).mean())


@_alias("mse")
class MSE(_Regression):
    """Mean squared error."""
    _batch = staticmethod(lambda d: (d ** 2).mean())


@_alias("rmse")
class RMSE(_Regression):
    """Root mean squared error (of each batch)."""
    _batch = staticmethod(lambda d: numpy.sqrt((d ** 2).mean()))


@_alias("ce", "cross-entropy")
class CrossEntropy(EvalMetric):
    """Mean of -log(p[label] + eps) over the samples; predictions are probabilities."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _numpy(label).ravel(), _numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise BrassError("%s: %d labels for %d predictions" % (type(self).__name__, label.shape[0],
                                                                       pred.shape[0]))
            prob = pred[numpy.arange(label.shape[0]), label.astype(numpy.int64)].astype(numpy.float64)
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@_alias("nll_loss")
class NegativeLogLikelihood(CrossEntropy):
    """The negative log-likelihood of the labels (as CrossEntropy)."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps=eps, name=name, output_names=output_names, label_names=label_names)


@_alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson's correlation of predictions and labels: 'macro' averages the batches', 'micro'
    correlates every sample seen."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        if average not in ("macro", "micro"):
            raise BrassError("PearsonCorrelation: average must be 'macro' or 'micro', got %r" % (average,))
        self.average = average
        super().__init__(name, average=average, output_names=output_names, label_names=label_names)

    def reset(self):
        super().reset()
        self._sums = self._global_sums = numpy.zeros(6)  # n, sum x, sum y, sum xx, sum yy, sum xy

    def reset_local(self):
        super().reset_local()
        self._sums = numpy.zeros(6)

    @staticmethod
    def _corr(s):
        n, sx, sy, sxx, syy, sxy = s
        cov = sxy - sx * sy / n
        return float(cov / math.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n)))

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            check_label_shapes(_numpy(label), _numpy(pred), shape=True)
            y = _numpy(label).ravel().astype(numpy.float64)
            x = _numpy(pred).ravel().astype(numpy.float64)
            if self.average == "macro":
                self._add(float(numpy.corrcoef(x, y)[0, 1]), 1)
            else:
                batch = numpy.array([x.size, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()])
                self._sums = self._sums + batch
                self._global_sums = self._global_sums + batch
                self.num_inst += 1
                self.global_num_inst += 1

    def get(self):
        if self.average == "macro" or not self.num_inst:
            return super().get()
        return (self.name, self._corr(self._sums))

    def get_global(self):
        if self.average == "macro" or not self.global_num_inst:
            return super().get_global()
        return (self.name, self._corr(self._global_sums))


@_alias("loss")
class Loss(EvalMetric):
    """The mean of the values of the given loss arrays (labels ignored)."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    def update(self, _, preds):
        for pred in preds if isinstance(preds, (list, tuple)) else [preds]:
            p = _numpy(pred)
            self._add(float(p.sum()), p.size)


@_alias("custom")
class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred)`` on NumPy arrays, returning a value or (sum, count)."""

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None, label_names=None):
        if name is None:
            name = feval.__name__
            if name.find("<") != -1:
                name = "custom(%s)" % name
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            r = self._feval(_numpy(label), _numpy(pred))
            if isinstance(r, tuple):
                self._add(r[0], r[1])
            else:
                self._add(r, 1)

    def get_config(self):
        raise BrassError("CustomMetric cannot be serialized")


def np(numpy_feval, name=None, allow_extra_outputs=False):  # MXNet's name
    """A CustomMetric from a function of NumPy arrays."""

    def feval(label, pred):
        return numpy_feval(label, pred)

    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)


def create(metric, *args, **kwargs):
    """A metric from a name ('acc', 'ce', 'top_k_accuracy', ...), a function (CustomMetric), a
    list (CompositeEvalMetric) or an EvalMetric (returned as is)."""
    if isinstance(metric, EvalMetric):
        return metric
    if callable(metric) and not isinstance(metric, type):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, (list, tuple)):
        composite = CompositeEvalMetric()
        for m in metric:
            composite.add(create(m, *args, **kwargs))
        return composite
    if isinstance(metric, str) and metric.lower() in _registry:
        return _registry[metric.lower()](*args, **kwargs)
    raise BrassError("metric: no metric named %r (known: %s)" % (metric, ", ".join(sorted(_registry))))
