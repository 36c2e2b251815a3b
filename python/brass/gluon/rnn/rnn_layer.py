"""Recurrent layers on the fused RNN operator (MXNet 1.x ``gluon.rnn.RNN``, ``LSTM``, ``GRU``):
every layer and direction in one op call, imperative or hybridized.

Parameters are MXNet's: per layer l and direction (``l`` forwards, ``r`` backwards)
``l0_i2h_weight`` (G*H, input size), ``l0_h2h_weight`` (G*H, H), ``l0_i2h_bias`` and
``l0_h2h_bias`` (G*H,), and with an LSTM projection ``l0_h2r_weight`` (P, H); G is 1 (RNN),
4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n). Each forward joins them, flattened, into the
operator's single parameter vector: every weight (layer by layer, direction by direction,
i2h, h2h[, h2r]) and then every bias in the same order.

>>> import brass as mx
>>> with mx.name.NameManager():
...     layer = mx.gluon.rnn.LSTM(20, num_layers=2, bidirectional=True, input_size=10)
>>> [(k, v.shape) for k, v in layer.collect_params().items()][:5]  # doctest: +NORMALIZE_WHITESPACE
[('lstm0_l0_i2h_weight', (80, 10)), ('lstm0_l0_h2h_weight', (80, 20)),
 ('lstm0_l0_i2h_bias', (80,)), ('lstm0_l0_h2h_bias', (80,)), ('lstm0_r0_i2h_weight', (80, 10))]
>>> layer.initialize()
>>> out, (h, c) = layer(mx.nd.ones((5, 3, 10)), layer.begin_state(batch_size=3))
>>> out.shape, h.shape, c.shape
((5, 3, 40), (4, 3, 20), (4, 3, 20))
"""

import numbers
import re

import numpy as np

from ... import ndarray, symbol
from ...base import BrassError, numeric_types
from ...context import Context
from ...ndarray.ndarray import NDArray
from ...symbol.symbol import Symbol
from ..block import HybridBlock
from .rnn_cell import _as_list, _InvalidArgument

__all__ = ["RNN", "LSTM", "GRU"]

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _positive_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1


class _RNNLayer(HybridBlock):
    """What RNN, LSTM and GRU share: parameters, states, the call and the fused op."""

    def __init__(
        self,
        hidden_size,
        num_layers,
        layout,
        dropout,
        bidirectional,
        input_size,
        i2h_weight_initializer,
        h2h_weight_initializer,
        i2h_bias_initializer,
        h2h_bias_initializer,
        mode,
        projection_size,
        h2r_weight_initializer,
        lstm_state_clip_min,
        lstm_state_clip_max,
        lstm_state_clip_nan,
        dtype,
        use_sequence_length=False,
        **kwargs,
    ):
        name = type(self).__name__
        if mode not in _GATES:
            raise _InvalidArgument(
                "%s: unknown mode %r (rnn_relu, rnn_tanh, lstm or gru)" % (name, mode)
            )
        if not _positive_int(hidden_size):
            raise _InvalidArgument(
                "%s: hidden_size must be a positive int, got %r" % (name, hidden_size)
            )
        if not _positive_int(num_layers):
            raise _InvalidArgument(
                "%s: num_layers must be a positive int, got %r" % (name, num_layers)
            )
        if layout not in ("TNC", "NTC"):
            raise _InvalidArgument("%s: invalid layout %r; must be 'TNC' or 'NTC'" % (name, layout))
        if (
            not isinstance(dropout, numeric_types)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise _InvalidArgument(
                "%s: dropout must be a number in [0, 1], got %r" % (name, dropout)
            )
        if not isinstance(input_size, numbers.Integral) or input_size < 0:
            raise _InvalidArgument(
                "%s: input_size must be an int >= 0 (0: inferred from the first "
                "input), got %r" % (name, input_size)
            )
        if projection_size and not _positive_int(projection_size):
            raise _InvalidArgument(
                "%s: projection_size must be a positive int or None, got %r"
                % (name, projection_size)
            )
        for nm, v in (
            ("state_clip_min", lstm_state_clip_min),
            ("state_clip_max", lstm_state_clip_max),
        ):
            if v is not None and not isinstance(v, numeric_types):
                raise _InvalidArgument("%s: %s must be a number or None, got %r" % (name, nm, v))
        try:
            dtype_name = np.dtype(dtype).name
        except TypeError:
            dtype_name = repr(dtype)
        if dtype_name not in ("float32", "float64"):
            raise _InvalidArgument(
                "%s: dtype must be float32 or float64 (the RNN operator's types), "
                "got %s" % (name, dtype_name)
            )
        super().__init__(**kwargs)
        self._hidden_size = hidden_size
        self._projection_size = projection_size if projection_size else None
        self._num_layers = num_layers
        self._mode = mode
        self._layout = layout
        self._dropout = dropout
        self._dir = 2 if bidirectional else 1
        self._input_size = input_size
        self._lstm_state_clip_min = lstm_state_clip_min
        self._lstm_state_clip_max = lstm_state_clip_max
        self._lstm_state_clip_nan = lstm_state_clip_nan
        self._dtype = dtype_name
        self._use_sequence_length = use_sequence_length
        self._gates = _GATES[mode]

        ng, nh, ni = self._gates, hidden_size, input_size
        nr = self._projection_size or hidden_size  # the recurrent state's size
        inits = {
            "i2h_weight": i2h_weight_initializer,
            "h2h_weight": h2h_weight_initializer,
            "i2h_bias": i2h_bias_initializer,
            "h2h_bias": h2h_bias_initializer,
            "h2r_weight": h2r_weight_initializer,
        }
        for i in range(num_layers):
            for j in "lr"[: self._dir]:
                shapes = {
                    "i2h_weight": (ng * nh, ni),
                    "h2h_weight": (ng * nh, nr),
                    "i2h_bias": (ng * nh,),
                    "h2h_bias": (ng * nh,),
                }
                if self._projection_size:
                    shapes["h2r_weight"] = (nr, nh)
                for kind, shape in shapes.items():
                    pname = "%s%d_%s" % (j, i, kind)
                    setattr(
                        self,
                        pname,
                        self.params.get(
                            pname,
                            shape=shape,
                            init=inits[kind],
                            allow_deferred_init=True,
                            dtype=dtype,
                        ),
                    )
            ni = nr * self._dir
        # The operator's order: every weight, then every bias (rnn_params.h).
        groups = ("i2h", "h2h", "h2r") if self._projection_size else ("i2h", "h2h")
        self._param_order = [
            "%s%d_%s_%s" % (d, layer, g, t)
            for t in ("weight", "bias")
            for layer in range(num_layers)
            for d in "lr"[: self._dir]
            for g in groups
            if not (g == "h2r" and t == "bias")
        ]

    def __repr__(self):
        s = "%s(%s -> %d, %s" % (
            type(self).__name__,
            self.l0_i2h_weight.shape[1] or None,
            self.l0_i2h_weight.shape[0] // self._gates,
            self._layout,
        )
        if self._num_layers != 1:
            s += ", num_layers=%d" % self._num_layers
        if self._dropout != 0:
            s += ", dropout=%s" % self._dropout
        if self._dir == 2:
            s += ", bidirectional"
        return s + ")"

    def _collect_params_with_prefix(self, prefix=""):
        # save_parameters/load_parameters names as MXNet 1.x writes them for these layers
        # (those of the cell stack the layers once were: "_unfused.0.l_cell.i2h_weight").
        if prefix:
            prefix += "."
        pattern = re.compile(r"(l|r)(\d+)_(i2h|h2h|h2r)_(weight|bias)\Z")
        bidirectional = self._dir == 2
        ret = {}
        for key, val in self._reg_params.items():
            d, layer, g, t = pattern.match(key).groups()
            name = (
                "_unfused.%s.%s_cell.%s_%s" % (layer, d, g, t)
                if bidirectional
                else "_unfused.%s.%s_%s" % (layer, g, t)
            )
            ret[prefix + name] = val
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret

    def state_info(self, batch_size=0):
        """Shape, layout and dtype of each state: h (LSTM adds c)."""
        return [
            {
                "shape": (self._num_layers * self._dir, batch_size, self._hidden_size),
                "__layout__": "LNC",
                "dtype": self._dtype,
            }
        ]

    def cast(self, dtype):
        super().cast(dtype)
        self._dtype = np.dtype(dtype).name

    def begin_state(self, batch_size=0, func=ndarray.zeros, **kwargs):
        """The initial states: ``func(name=..., shape=..., dtype=..., **kwargs)`` per entry of
        state_info (func: nd.zeros, nd.ones, sym.zeros, sym.var...; kwargs such as ctx go to
        func).

        >>> import brass as mx
        >>> [s.shape for s in mx.gluon.rnn.LSTM(4, num_layers=3).begin_state(batch_size=2)]
        [(3, 2, 4), (3, 2, 4)]
        """
        states = []
        for i, info in enumerate(self.state_info(batch_size)):
            info = dict(info or {})
            info.pop("__layout__", None)  # metadata, not an argument of func
            info.update(kwargs)
            states.append(func(name="%sh0_%d" % (self.prefix, i), **info))
        return states

    def _who(self):
        return "%s(%s)" % (type(self).__name__, self.name)

    def _check_input(self, x):
        if x.ndim != 3:
            raise BrassError(
                "%s: the input must be 3-D (%s), got shape %s"
                % (
                    self._who(),
                    "sequence length, batch, features"
                    if self._layout == "TNC"
                    else "batch, sequence length, features",
                    x.shape,
                ),
                2,
            )
        known = self.l0_i2h_weight.shape[1]
        if known and x.shape[2] != known:
            raise BrassError(
                "%s: the input has %d features (shape %s, layout %s); l0_i2h_weight %s "
                "takes %d"
                % (self._who(), x.shape[2], x.shape, self._layout, self.l0_i2h_weight.shape, known),
                2,
            )
        if np.dtype(x.dtype).name != self._dtype:
            raise BrassError(
                "%s: the input is %s, the parameters are %s (cast one of them)"
                % (self._who(), np.dtype(x.dtype).name, self._dtype),
                3,
            )

    def _check_states(self, x, states):
        info = self.state_info(x.shape[self._layout.find("N")] if isinstance(x, NDArray) else 0)
        if len(states) != len(info):
            raise BrassError(
                "%s: %d states given, expected %d (%s)"
                % (self._who(), len(states), len(info), "h and c" if self._mode == "lstm" else "h"),
                1,
            )
        for k, (s, want) in enumerate(zip(states, info)):
            if not isinstance(s, (NDArray, Symbol)):
                raise BrassError(
                    "%s: state %d is a %s, expected an NDArray or a Symbol"
                    % (self._who(), k, type(s).__name__),
                    1,
                )
            if isinstance(x, NDArray) and isinstance(s, NDArray) and s.shape != want["shape"]:
                raise BrassError(
                    "%s: state %d has shape %s, expected %s (num_layers * directions, "
                    "batch, %s) for input %s in layout %s"
                    % (
                        self._who(),
                        k,
                        s.shape,
                        want["shape"],
                        "projection_size" if self._projection_size and k == 0 else "hidden_size",
                        x.shape,
                        self._layout,
                    ),
                    2,
                )

    def __call__(self, inputs, states=None, sequence_length=None):
        """Runs the layer over inputs (layout TNC or NTC). Without states (zeros are used)
        returns the output; with states (a list, or one array for RNN and GRU) returns
        (output, new states). sequence_length (batch,), for a layer made with
        use_sequence_length=True: each sequence's length (later outputs are 0, the states
        those of its last step)."""
        skip_states = states is None
        if isinstance(inputs, NDArray):
            self._check_input(inputs)
            if states is None:
                batch = inputs.shape[self._layout.find("N")]
                with Context(inputs.context):
                    states = self.begin_state(batch, dtype=inputs.dtype)
        elif isinstance(inputs, Symbol):
            if states is None:
                states = self.begin_state(0, func=symbol.zeros)
        else:
            raise BrassError(
                "%s: inputs must be an NDArray or a Symbol, got %s"
                % (self._who(), type(inputs).__name__),
                1,
            )
        states = _as_list(states)
        self._check_states(inputs, states)
        args = [inputs] + states
        if self._use_sequence_length:
            if sequence_length is None:
                raise BrassError(
                    "%s: made with use_sequence_length=True, so sequence_length "
                    "(batch,) is required" % self._who(),
                    1,
                )
            args.append(sequence_length)
        elif sequence_length is not None:
            raise BrassError(
                "%s: sequence_length given, but the layer was made with "
                "use_sequence_length=False" % self._who(),
                1,
            )
        out = HybridBlock.__call__(self, *args)
        output, new_states = out[0], list(out[1:])
        return output if skip_states else (output, new_states)

    def _hybrid_call(self, F, inputs, *rest):
        # HybridBlock passes the arguments flat (inputs, states..., [sequence_length]) and takes
        # the outputs flat (output, states...).
        n = len(self.state_info())
        sequence_length = rest[n] if self._use_sequence_length else None
        ctx = None if F is symbol else inputs.context
        params = {k: (p.var() if F is symbol else p.data(ctx)) for k, p in self._reg_params.items()}
        output, states = self.hybrid_forward(F, inputs, list(rest[:n]), sequence_length, **params)
        return [output] + list(states)

    def _shapes_from_input(self, shape):
        """The first layer's input weights from the input's shape (TNC or NTC: features last)."""
        for d in "lr"[: self._dir]:
            getattr(self, "%s0_i2h_weight" % d).shape = (self._gates * self._hidden_size, shape[2])

    def _infer_param_shapes(self, args):
        """Deferred initialization: the first layer's input size from the input."""
        self._shapes_from_input(args[0].shape)
        for p in self.collect_params().values():
            p._finish_deferred_init()

    def hybrid_forward(self, F, inputs, states, sequence_length=None, **kwargs):
        """The fused op over every layer: returns (output, [h] or [h, c])."""
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, dim1=0, dim2=1)
        flat = [F.reshape(kwargs[name], shape=(-1,)) for name in self._param_order]
        params = F._rnn_param_concat(*flat, dim=0, num_args=len(flat))
        opts = {
            "state_size": self._hidden_size,
            "num_layers": self._num_layers,
            "bidirectional": self._dir == 2,
            "p": self._dropout,
            "state_outputs": True,
            "mode": self._mode,
            "use_sequence_length": self._use_sequence_length,
            "lstm_state_clip_nan": self._lstm_state_clip_nan,
        }
        for k, v in (
            ("projection_size", self._projection_size),
            ("lstm_state_clip_min", self._lstm_state_clip_min),
            ("lstm_state_clip_max", self._lstm_state_clip_max),
        ):
            if v is not None:
                opts[k] = v
        extra = [sequence_length] if self._use_sequence_length else []
        rnn = F.RNN(inputs, params, *(list(states) + extra), name="rnn", **opts)
        outputs = rnn[0]
        states = [rnn[1], rnn[2]] if self._mode == "lstm" else [rnn[1]]
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, dim1=0, dim2=1)
        return outputs, states

class RNN(_RNNLayer):
    """A multi-layer Elman RNN: h_t = activation(x_t W_i2h^T + b_i2h + h_{t-1} W_h2h^T +
    b_h2h), activation 'relu' (default) or 'tanh'.

    hidden_size: H. num_layers: stacked layers. layout: 'TNC' (default) or 'NTC' for inputs
    and outputs. dropout: on every layer's output but the last's, in training.
    bidirectional: each layer also runs backwards (outputs concatenated, 2H features).
    input_size: 0 infers it at the first forward. dtype: float32 or float64.
    use_sequence_length (keyword): the call takes sequence_length (batch,).

    Call: ``layer(inputs)`` -> output (T, N, D*H) in TNC; ``layer(inputs, states)`` ->
    (output, [h]) with states h (num_layers * D, N, H).
    """

    def __init__(
        self,
        hidden_size,
        num_layers=1,
        activation="relu",
        layout="TNC",
        dropout=0,
        bidirectional=False,
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        input_size=0,
        dtype="float32",
        **kwargs,
    ):
        if activation not in ("relu", "tanh"):
            raise _InvalidArgument(
                "RNN: activation must be 'relu' or 'tanh', got %r" % (activation,)
            )
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "rnn_" + activation,
            None,
            None,
            None,
            None,
            False,
            dtype,
            **kwargs,
        )


class LSTM(_RNNLayer):
    """A multi-layer LSTM (gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t)).

    Arguments as RNN's, and: projection_size P (LSTMP: h_t = (o tanh(c_t)) W_h2r^T, so the
    output and h have P features; adds h2r_weight (P, H), initialized by
    h2r_weight_initializer); state_clip_min / state_clip_max: bounds of the cell state
    (None: none); state_clip_nan: a NaN cell state becomes the lower bound.

    Call: ``layer(inputs)`` -> output; ``layer(inputs, [h, c])`` -> (output, [h, c]) with
    h (num_layers * D, N, P or H) and c (num_layers * D, N, H).
    """

    def __init__(
        self,
        hidden_size,
        num_layers=1,
        layout="TNC",
        dropout=0,
        bidirectional=False,
        input_size=0,
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        projection_size=None,
        h2r_weight_initializer=None,
        state_clip_min=None,
        state_clip_max=None,
        state_clip_nan=False,
        dtype="float32",
        **kwargs,
    ):
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "lstm",
            projection_size,
            h2r_weight_initializer,
            state_clip_min,
            state_clip_max,
            state_clip_nan,
            dtype,
            **kwargs,
        )

    def state_info(self, batch_size=0):
        ld = self._num_layers * self._dir
        return [
            {
                "shape": (ld, batch_size, self._projection_size or self._hidden_size),
                "__layout__": "LNC",
                "dtype": self._dtype,
            },
            {
                "shape": (ld, batch_size, self._hidden_size),
                "__layout__": "LNC",
                "dtype": self._dtype,
            },
        ]


class GRU(_RNNLayer):
    """A multi-layer GRU (cuDNN's variant, as MXNet: gates r, z, n; n = tanh(x W_in^T + b_in
    + r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h_{t-1}). Arguments and call as RNN's."""

    def __init__(
        self,
        hidden_size,
        num_layers=1,
        layout="TNC",
        dropout=0,
        bidirectional=False,
        input_size=0,
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        dtype="float32",
        **kwargs,
    ):
        super().__init__(
            hidden_size,
            num_layers,
            layout,
            dropout,
            bidirectional,
            input_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            "gru",
            None,
            None,
            None,
            None,
            False,
            dtype,
            **kwargs,
        )
