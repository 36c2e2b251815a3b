"""Convolution, transposed convolution, pooling and padding layers, 1-D to 3-D (MXNet 1.x
names, arguments and defaults).

Weights are (channels, in_channels / groups, *kernel) for a convolution and (in_channels,
channels / groups, *kernel) for a transposed one; a channels-last layout (NWC, NHWC, NDHWC)
moves the channel extent to the end of the weight as well. in_channels=0 is inferred at the
first forward.
"""
from ..block import HybridBlock

__all__ = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "ReflectionPad2D"]

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _tuple(v, n, what, layer):
    t = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    if len(t) != n or not all(isinstance(i, int) for i in t):
        raise ValueError("%s: %s must be an int or %d ints, got %r" % (layer, what, n, v))
    return t


def _check_layout(layout, n, layer):
    if layout not in _LAYOUTS[n]:
        raise ValueError("%s: layout must be %s or %s, got %r" % ((layer,) + _LAYOUTS[n] + (layout,)))
    return layout == _LAYOUTS[n][1]


class _Conv(HybridBlock):
    """A convolution (op Convolution) or transposed convolution (op Deconvolution) over n
    spatial axes."""

    def __init__(self, n, transpose, channels, kernel_size, strides, padding, dilation, groups, layout,
                 in_channels, activation, use_bias, weight_initializer, bias_initializer, output_padding=0,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        last = _check_layout(layout, n, name)
        k = _tuple(kernel_size, n, "kernel_size", name)
        if in_channels and in_channels % groups or channels % groups:
            raise ValueError("%s: groups %d must divide channels %d and in_channels %d"
                             % (name, groups, channels, in_channels))
        self._op = "Deconvolution" if transpose else "Convolution"
        self._channels, self._in_channels, self._act = channels, in_channels, activation
        self._kwargs = {"kernel": k, "stride": _tuple(strides, n, "strides", name),
                        "dilate": _tuple(dilation, n, "dilation", name), "pad": _tuple(padding, n, "padding", name),
                        "num_filter": channels, "num_group": groups, "no_bias": not use_bias, "layout": layout}
        if transpose:
            self._kwargs["adj"] = _tuple(output_padding, n, "output_padding", name)
            outer, inner = in_channels, channels // groups
        else:
            outer, inner = channels, in_channels // groups
        wshape = (outer,) + k + (inner,) if last else (outer, inner) + k
        with self.name_scope():
            self.weight = self.params.get("weight", shape=wshape, init=weight_initializer,
                                          allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None

    def _alias(self):
        return "conv"

    def hybrid_forward(self, F, x, weight, bias=None):
        op = getattr(F, self._op)
        y = op(x, weight, name="fwd", **self._kwargs) if bias is None else op(x, weight, bias, name="fwd", **self._kwargs)
        if self._act is not None:
            y = F.Activation(y, act_type=self._act, name=self._act + "_fwd")  # MXNet: <layer>_relu_fwd
        return y

    def __repr__(self):
        kw = self._kwargs
        s = "%s(%s -> %d, kernel_size=%s, stride=%s" % (type(self).__name__, self._in_channels or None,
                                                        self._channels, kw["kernel"], kw["stride"])
        if any(kw["pad"]):
            s += ", padding=%s" % (kw["pad"],)
        if any(d != 1 for d in kw["dilate"]):
            s += ", dilation=%s" % (kw["dilate"],)
        if kw["num_group"] != 1:
            s += ", groups=%d" % kw["num_group"]
        if kw.get("adj") and any(kw["adj"]):
            s += ", output_padding=%s" % (kw["adj"],)
        if self.bias is None:
            s += ", bias=False"
        if self._act:
            s += ", Activation(%s)" % self._act
        return s + ")"


def _conv_class(n, transpose):
    layout = _LAYOUTS[n][0]
    if transpose:
        def __init__(self, channels, kernel_size, strides=1, padding=0, output_padding=0, dilation=1, groups=1,
                     layout=layout, activation=None, use_bias=True, weight_initializer=None,
                     bias_initializer="zeros", in_channels=0, **kwargs):
            _Conv.__init__(self, n, True, channels, kernel_size, strides, padding, dilation, groups, layout,
                           in_channels, activation, use_bias, weight_initializer, bias_initializer,
                           output_padding, **kwargs)
    else:
        def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1, layout=layout,
                     activation=None, use_bias=True, weight_initializer=None, bias_initializer="zeros",
                     in_channels=0, **kwargs):
            _Conv.__init__(self, n, False, channels, kernel_size, strides, padding, dilation, groups, layout,
                           in_channels, activation, use_bias, weight_initializer, bias_initializer, **kwargs)
    name = "Conv%dD%s" % (n, "Transpose" if transpose else "")
    doc = ("%d-D %s convolution of %s data: weight %s." %
           (n, "transposed" if transpose else "a", layout,
            "(in_channels, channels / groups, *kernel)" if transpose else "(channels, in_channels / groups, *kernel)"))
    return type(name, (_Conv,), {"__init__": __init__, "__doc__": doc})


Conv1D, Conv2D, Conv3D = (_conv_class(n, False) for n in (1, 2, 3))
Conv1DTranspose, Conv2DTranspose, Conv3DTranspose = (_conv_class(n, True) for n in (1, 2, 3))


class _Pool(HybridBlock):
    """Pooling over n spatial axes (op Pooling)."""

    def __init__(self, n, pool_size, strides, padding, ceil_mode, global_pool, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        _check_layout(layout, n, name)
        pool_size = _tuple(pool_size, n, "pool_size", name)
        strides = pool_size if strides is None else _tuple(strides, n, "strides", name)
        self._kwargs = {"kernel": pool_size, "stride": strides, "pad": _tuple(padding, n, "padding", name),
                        "global_pool": global_pool, "pool_type": pool_type, "layout": layout,
                        "pooling_convention": "full" if ceil_mode else "valid"}
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _alias(self):
        return "pool"

    def hybrid_forward(self, F, x):
        return F.Pooling(x, name="fwd", **self._kwargs)

    def __repr__(self):
        kw = self._kwargs
        if kw["global_pool"]:
            return "%s(layout=%s)" % (type(self).__name__, kw["layout"])
        return "%s(size=%s, stride=%s, padding=%s, ceil_mode=%s)" % (
            type(self).__name__, kw["kernel"], kw["stride"], kw["pad"], kw["pooling_convention"] == "full")


def _pool_class(n, kind):
    layout, size = _LAYOUTS[n][0], (2,) * n
    if kind == "max":
        def __init__(self, pool_size=size, strides=None, padding=0, layout=layout, ceil_mode=False, **kwargs):
            _Pool.__init__(self, n, pool_size, strides, padding, ceil_mode, False, "max", layout, **kwargs)
    elif kind == "avg":
        def __init__(self, pool_size=size, strides=None, padding=0, layout=layout, ceil_mode=False,
                     count_include_pad=True, **kwargs):
            _Pool.__init__(self, n, pool_size, strides, padding, ceil_mode, False, "avg", layout,
                           count_include_pad, **kwargs)
    else:
        pool_type = kind[len("global"):]

        def __init__(self, layout=layout, **kwargs):
            _Pool.__init__(self, n, (1,) * n, None, 0, True, True, pool_type, layout, **kwargs)
    names = {"max": "MaxPool", "avg": "AvgPool", "globalmax": "GlobalMaxPool", "globalavg": "GlobalAvgPool"}
    doc = "%s pooling over %d spatial axes (%s by default)." % (names[kind], n, layout)
    return type("%s%dD" % (names[kind], n), (_Pool,), {"__init__": __init__, "__doc__": doc})


MaxPool1D, MaxPool2D, MaxPool3D = (_pool_class(n, "max") for n in (1, 2, 3))
AvgPool1D, AvgPool2D, AvgPool3D = (_pool_class(n, "avg") for n in (1, 2, 3))
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (_pool_class(n, "globalmax") for n in (1, 2, 3))
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (_pool_class(n, "globalavg") for n in (1, 2, 3))


class ReflectionPad2D(HybridBlock):
    """Pads the two spatial axes of NCHW data by reflection (op Pad, mode 'reflect'): padding
    is an int for all four sides or MXNet's 8-tuple pad_width."""

    def __init__(self, padding=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (0, 0, 0, 0, padding, padding, padding, padding)
        padding = tuple(padding)
        if len(padding) != 8:
            raise ValueError("ReflectionPad2D: padding must be an int or 8 ints (pad_width), got %r" % (padding,))
        self._padding = padding

    def hybrid_forward(self, F, x):
        return F.pad(x, mode="reflect", pad_width=self._padding, name="fwd")

    def __repr__(self):
        return "ReflectionPad2D(padding=%s)" % (self._padding,)
