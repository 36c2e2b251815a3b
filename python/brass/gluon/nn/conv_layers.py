"""Convolution and pooling layers (2-D, NCHW; MXNet 1.x names and defaults)."""
from ..block import HybridBlock

__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "GlobalMaxPool2D", "GlobalAvgPool2D"]


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


class Conv2D(HybridBlock):
    """2-D convolution: weight (channels, in_channels / groups, kh, kw)."""

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 layout="NCHW", activation=None, use_bias=True, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, **kwargs):
        super().__init__(**kwargs)
        if layout != "NCHW":
            raise ValueError("Conv2D: only the NCHW layout is supported, got %s" % layout)
        k = _pair(kernel_size)
        self._channels, self._act = channels, activation
        self._kwargs = {"kernel": k, "stride": _pair(strides), "dilate": _pair(dilation), "pad": _pair(padding),
                        "num_filter": channels, "num_group": groups, "no_bias": not use_bias, "layout": layout}
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(channels, in_channels // groups if in_channels else 0) + k,
                                          init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None

    def _alias(self):
        return "conv"

    def hybrid_forward(self, F, x, weight, bias=None):
        if bias is None:
            y = F.Convolution(x, weight, name="fwd", **self._kwargs)
        else:
            y = F.Convolution(x, weight, bias, name="fwd", **self._kwargs)
        if self._act is not None:
            y = F.Activation(y, act_type=self._act, name=self._act + "_fwd")  # MXNet: <layer>_relu_fwd
        return y

    def __repr__(self):
        return "Conv2D(%d, kernel_size=%s, stride=%s)" % (self._channels, self._kwargs["kernel"], self._kwargs["stride"])


class _Pool2D(HybridBlock):
    def __init__(self, pool_size, strides, padding, ceil_mode, global_pool, pool_type, layout="NCHW",
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        if layout != "NCHW":
            raise ValueError("pooling: only the NCHW layout is supported, got %s" % layout)
        strides = pool_size if strides is None else strides
        self._kwargs = {"kernel": _pair(pool_size), "stride": _pair(strides), "pad": _pair(padding),
                        "global_pool": global_pool, "pool_type": pool_type,
                        "pooling_convention": "full" if ceil_mode else "valid"}
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _alias(self):
        return "pool"

    def hybrid_forward(self, F, x):
        return F.Pooling(x, name="fwd", **self._kwargs)

    def __repr__(self):
        return "%s(size=%s, stride=%s)" % (type(self).__name__, self._kwargs["kernel"], self._kwargs["stride"])


class MaxPool2D(_Pool2D):
    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout="NCHW", ceil_mode=False, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, False, "max", layout, **kwargs)


class AvgPool2D(_Pool2D):
    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout="NCHW", ceil_mode=False,
                 count_include_pad=True, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad, **kwargs)


class GlobalMaxPool2D(_Pool2D):
    def __init__(self, layout="NCHW", **kwargs):
        super().__init__((1, 1), None, 0, True, True, "max", layout, **kwargs)


class GlobalAvgPool2D(_Pool2D):
    def __init__(self, layout="NCHW", **kwargs):
        super().__init__((1, 1), None, 0, True, True, "avg", layout, **kwargs)
