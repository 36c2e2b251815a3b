"""brass.metric against values computed by hand (MXNet 1.x semantics), local and global tallies,
create() by name, errors."""
import math

import numpy as np
import pytest

import brass as mx

nd = mx.nd


def test_accuracy():
    m = mx.metric.Accuracy()
    m.update([nd.array([0, 1, 2, 1])], [nd.array([[0.9, 0.1, 0], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0, 1, 0]])])
    assert m.get() == ("accuracy", 0.75)
    m.update([nd.array([1, 1])], [nd.array([1, 0])])  # class predictions, same shape as the labels
    assert m.get() == ("accuracy", 4 / 6)
    m.reset_local()
    assert math.isnan(m.get()[1]) and m.get_global()[1] == 4 / 6
    m = mx.metric.Accuracy(axis=0)
    m.update([np.array([1, 0])], [np.array([[0.1, 0.9], [0.8, 0.2]])])  # NumPy arrays too; argmax over axis 0
    assert m.get()[1] == 1.0


def test_top_k_accuracy():
    m = mx.metric.create("top_k_accuracy", top_k=2)
    assert m.name == "top_k_accuracy_2"
    pred = nd.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    m.update([nd.array([2, 2, 0, 1])], [pred])
    # row 0: top2 {1,2} has 2 yes; row 1: {0,1} no; row 2: {2,1} no; row 3: {2, 0 or 1} -> tie
    assert m.get()[1] in (0.25, 0.5)
    m = mx.metric.TopKAccuracy(top_k=5)  # more than the classes: every label counts
    m.update([nd.array([0, 2])], [nd.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])])
    assert m.get()[1] == 1.0


def test_f1_and_mcc():
    label = nd.array([1, 0, 1, 1, 0, 0])
    pred = nd.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.3, 0.7], [0.8, 0.2], [0.6, 0.4]])
    # predicted (argmax of each row): 1, 1, 0, 1, 0, 0
    tp, fp, fn, tn = 2, 1, 1, 2
    p, r = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * p * r / (p + r)
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    m = mx.metric.F1()
    m.update([label], [pred])
    assert m.get()[1] == pytest.approx(f1)
    m2 = mx.metric.create("mcc")
    m2.update([label], [pred])
    assert m2.get()[1] == pytest.approx(mcc)
    # macro averages batches, micro pools them
    l2, p2 = nd.array([1, 1]), nd.array([[0, 1], [0, 1]])  # a perfect batch: F1 1
    macro, micro = mx.metric.F1(average="macro"), mx.metric.F1(average="micro")
    for m in (macro, micro):
        m.update([label], [pred])
        m.update([l2], [p2])
    assert macro.get()[1] == pytest.approx((f1 + 1.0) / 2)
    tp2 = tp + 2
    p, r = tp2 / (tp2 + fp), tp2 / (tp2 + fn)
    assert micro.get()[1] == pytest.approx(2 * p * r / (p + r))
    with pytest.raises(mx.BrassError, match="only binary classification"):
        mx.metric.F1().update([nd.array([0, 1, 2])], [nd.array([[1, 0], [0, 1], [1, 0]])])


def test_regression_metrics_average_per_batch():
    labels = [nd.array([1, 2, 3]), nd.array([0, 0])]
    preds = [nd.array([[1.5], [2], [2]]), nd.array([1, -3])]
    mae = (np.mean([0.5, 0, 1]) + np.mean([1, 3])) / 2
    mse = (np.mean([0.25, 0, 1]) + np.mean([1, 9])) / 2
    rmse = (math.sqrt(np.mean([0.25, 0, 1])) + math.sqrt(np.mean([1, 9]))) / 2
    for name, want in (("mae", mae), ("mse", mse), ("rmse", rmse)):
        m = mx.metric.create(name)
        m.update(labels, preds)
        assert m.get() == (name, pytest.approx(want))


def test_cross_entropy_nll_perplexity():
    prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    label = np.array([0, 2, 1])
    ce = -np.log(prob[np.arange(3), label]).mean()
    m = mx.metric.create("ce")
    m.update([nd.array(label)], [nd.array(prob)])
    assert m.get()[1] == pytest.approx(ce, rel=1e-6)
    m = mx.metric.NegativeLogLikelihood()
    m.update([nd.array(label)], [nd.array(prob)])
    assert m.get() == ("nll-loss", pytest.approx(ce, rel=1e-6))
    m = mx.metric.Perplexity(ignore_label=None)
    m.update([nd.array(label)], [nd.array(prob)])
    assert m.get()[1] == pytest.approx(math.exp(ce), rel=1e-6)
    m = mx.metric.Perplexity(ignore_label=1)  # the third sample is skipped
    m.update([nd.array(label)], [nd.array(prob)])
    assert m.get()[1] == pytest.approx(math.exp(-np.log([0.7, 0.8]).mean()), rel=1e-6)


def test_pearson_loss_custom_composite():
    x, y = np.array([1.0, 2, 3, 4]), np.array([2.0, 4.5, 5, 9])
    m = mx.metric.create("pearsonr")
    m.update([nd.array(y)], [nd.array(x)])
    assert m.get()[1] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-6)
    micro = mx.metric.PearsonCorrelation(average="micro")
    micro.update([nd.array(y[:2])], [nd.array(x[:2])])
    micro.update([nd.array(y[2:])], [nd.array(x[2:])])
    assert micro.get()[1] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-6)
    loss = mx.metric.Loss()
    loss.update(None, [nd.array([1.0, 2.0]), nd.array([3.0])])
    assert loss.get() == ("loss", 2.0)
    custom = mx.metric.create(lambda label, pred: (float((label == pred).sum()), label.size))
    custom.update([nd.array([1, 2])], [nd.array([1, 3])])
    assert custom.get()[1] == 0.5 and custom.name.startswith("custom(")

    def half(label, pred):
        return 0.5
    m = mx.metric.np(half)
    m.update([nd.array([1])], [nd.array([1])])
    assert m.get() == ("half", 0.5)
    comp = mx.metric.create(["acc", mx.metric.CrossEntropy()])
    comp.update([nd.array([1, 0])], [nd.array([[0.25, 0.75], [0.4, 0.6]])])
    names, values = comp.get()
    assert names == ["accuracy", "cross-entropy"] and values[0] == 0.5
    assert values[1] == pytest.approx(-(np.log(0.75) + np.log(0.4)) / 2, rel=1e-6)
    assert comp.get_metric(1).name == "cross-entropy"
    assert mx.metric.create(comp) is comp
    assert mx.metric.create("acc").get_config()["metric"] == "Accuracy"


def test_errors():
    with pytest.raises(mx.BrassError, match="no metric named 'accuracyy'"):
        mx.metric.create("accuracyy")
    with pytest.raises(mx.BrassError, match="does not match"):
        mx.metric.Accuracy().update([nd.array([1]), nd.array([0])], [nd.array([1])])
    with pytest.raises(mx.BrassError, match="does not match"):
        mx.metric.Accuracy().update([nd.array([1, 0, 1])], [nd.array([[0, 1], [1, 0]])])
    with pytest.raises(mx.BrassError, match="labels of shape"):
        mx.metric.MSE().update([nd.array([1, 0, 1])], [nd.array([[0, 1], [1, 0]])])
    with pytest.raises(mx.BrassError, match="index 3 out of range"):
        mx.metric.CompositeEvalMetric(["acc"]).get_metric(3)
