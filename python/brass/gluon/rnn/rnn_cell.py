"""Recurrent cells (MXNet 1.x ``gluon.rnn``): one time step per call, ``unroll`` over a
sequence, with NDArrays or traced as symbols. Used directly, inside HybridBlocks, and by tests
that check the fused layers (rnn_layer.py) against an unrolled stack of cells.

A cell is called as ``output, new_states = cell(inputs, states)`` with ``states`` a list; a
HybridRecurrentCell writes ``hybrid_forward(F, inputs, states, **params)``.

>>> import brass as mx
>>> with mx.name.NameManager():
...     cell = mx.gluon.rnn.LSTMCell(4, input_size=3)
>>> cell.initialize()
>>> out, states = cell.unroll(5, mx.nd.ones((2, 5, 3)), layout='NTC', merge_outputs=True)
>>> out.shape, [s.shape for s in states]
((2, 5, 4), [(2, 4), (2, 4)])
>>> sorted(cell.collect_params().keys())
['lstm0_h2h_bias', 'lstm0_h2h_weight', 'lstm0_i2h_bias', 'lstm0_i2h_weight']
"""

import numbers

import numpy as np

from ... import ndarray, symbol
from ...base import BrassError, numeric_types
from ...context import Context
from ...ndarray.ndarray import NDArray
from ...symbol.symbol import Symbol
from ..block import Block, HybridBlock
from ..nn import LeakyReLU

__all__ = [
    "RecurrentCell",
    "HybridRecurrentCell",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "SequentialRNNCell",
    "HybridSequentialRNNCell",
    "DropoutCell",
    "ModifierCell",
    "ZoneoutCell",
    "ResidualCell",
    "BidirectionalCell",
]

_TENSORS = (NDArray, Symbol)


class _InvalidArgument(BrassError, ValueError):
    """A bad constructor argument: a BrassError that MXNet scripts can also catch as
    ValueError."""

    def __init__(self, msg):
        super().__init__(msg, 1)


def _as_list(obj):
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _cells_state_info(cells, batch_size):
    return [info for c in cells for info in c.state_info(batch_size)]


def _cells_begin_state(cells, **kwargs):
    return [state for c in cells for state in c.begin_state(**kwargs)]


def _get_begin_state(cell, F, begin_state, inputs, batch_size, batch_axis=0):
    """begin_state, or zeros from ``cell.begin_state``: on the inputs' device and dtype for
    NDArrays; for symbols with the batch extent taken from the inputs (batch_axis: its axis in
    a merged input; step inputs are (batch, ...))."""
    if begin_state is not None:
        return begin_state
    if F is ndarray:
        first = inputs if isinstance(inputs, NDArray) else inputs[0]
        with Context(first.context):
            return cell.begin_state(func=ndarray.zeros, batch_size=batch_size, dtype=first.dtype)
    if isinstance(inputs, Symbol):
        ref = inputs if batch_axis == 0 else symbol.swapaxes(inputs, dim1=0, dim2=batch_axis)
    else:
        ref = inputs[0]
    return cell.begin_state(func=_zeros_with_batch_of(ref), batch_size=0)


def _zeros_with_batch_of(ref):
    """A begin_state function for symbols: zeros of the asked shape, whose leading 0 (the
    batch, unknown when tracing) is ref's first extent. Shape inference could not find it from
    a plain ``sym.zeros((0, H))``: FullyConnected infers no data batch from its output."""
    column = symbol.slice_axis(symbol.reshape(ref, shape=(0, -1)), axis=1, begin=0, end=1)

    def func(name=None, shape=(), dtype=None, **kwargs):
        shape = tuple(shape)
        if len(shape) < 2 or shape[0] != 0 or 0 in shape[1:]:
            return symbol.zeros(shape=shape, dtype=dtype, name=name, **kwargs)
        col = symbol.reshape(column, shape=(0,) + (1,) * (len(shape) - 1))
        return symbol.broadcast_to(symbol.zeros_like(col), shape=shape, name=name)

    return func


def _check_layout(layout, who):
    if not isinstance(layout, str) or sorted(layout) != ["C", "N", "T"]:
        raise BrassError(
            "%s: layout must be 'NTC' or 'TNC' (a permutation of N, T, C), got %r" % (who, layout),
            1,
        )


def _format_sequence(length, inputs, layout, merge, in_layout=None):
    """The inputs as one tensor in ``layout`` (merge True), a list of length per-step tensors
    (merge False), or as they came (merge None). Returns (inputs, time axis, F, batch size;
    0 for symbols)."""
    if inputs is None:
        raise BrassError("unroll: inputs is None; create the input arrays or variables first", 1)
    _check_layout(layout, "unroll")
    axis = layout.find("T")
    batch_axis = layout.find("N")
    batch_size = 0
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if isinstance(inputs, Symbol):
        F = symbol
        if merge is False:
            if len(inputs) != 1:
                raise BrassError(
                    "unroll: inputs is a group of %d symbols; pass a list of step "
                    "symbols or one symbol" % len(inputs),
                    1,
                )
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length, squeeze_axis=True))
    elif isinstance(inputs, NDArray):
        F = ndarray
        if inputs.ndim < 2:
            raise BrassError(
                "unroll: inputs must have a time and a batch axis (layout %s), got "
                "shape %s" % (layout, inputs.shape),
                2,
            )
        batch_size = inputs.shape[batch_axis]
        if length is not None and length != inputs.shape[in_axis]:
            raise BrassError(
                "unroll: length is %d but the inputs have %d steps (shape %s, layout "
                "%s)" % (length, inputs.shape[in_axis], inputs.shape, layout),
                2,
            )
        if merge is False:
            inputs = _as_list(
                ndarray.split(
                    inputs, axis=in_axis, num_outputs=inputs.shape[in_axis], squeeze_axis=True
                )
            )
    else:
        inputs = list(inputs)
        if length is not None and len(inputs) != length:
            raise BrassError(
                "unroll: length is %d but %d step inputs were given" % (length, len(inputs)), 2
            )
        if not inputs or not isinstance(inputs[0], _TENSORS):
            raise BrassError("unroll: inputs must be an NDArray, a Symbol or a list of them", 1)
        if isinstance(inputs[0], Symbol):
            F = symbol
        else:
            F = ndarray
            batch_size = inputs[0].shape[0]
        if merge is True:
            inputs = F.stack(*inputs, axis=axis)
            in_axis = axis
    if isinstance(inputs, _TENSORS) and axis != in_axis:
        inputs = F.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis, F, batch_size


def _mask_sequence_variable_length(F, data, length, valid_length, time_axis, merge):
    """Steps at or past each sequence's valid length set to 0."""
    if not isinstance(data, _TENSORS):
        data = F.stack(*data, axis=time_axis)
    outputs = F.SequenceMask(
        data, sequence_length=valid_length, use_sequence_length=True, axis=time_axis
    )
    if not merge:
        outputs = _as_list(F.split(outputs, num_outputs=length, axis=time_axis, squeeze_axis=True))
    return outputs


class RecurrentCell(Block):
    """The base of recurrent cells: ``cell(inputs, states)`` runs one step and returns
    ``(output, new_states)``; ``unroll`` runs a sequence.

    prefix, params: as for any Block (params shares parameters with another cell).
    """

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self._modified = False
        self.reset()

    def reset(self):
        """Resets the step counter (op names t0_, t1_, ...) before reusing the cell."""
        self._init_counter = -1
        self._counter = -1
        for cell in self._children.values():
            if isinstance(cell, RecurrentCell):
                cell.reset()

    def state_info(self, batch_size=0):
        """Shape and layout of each state: a list of dicts ({'shape': ..., '__layout__': ...})."""
        raise NotImplementedError

    def _check_unmodified(self):
        if self._modified:
            raise BrassError(
                "%s: this cell is wrapped by a modifier cell (ZoneoutCell, "
                "ResidualCell); call the modifier instead" % self.name,
                1,
            )

    def begin_state(self, batch_size=0, func=ndarray.zeros, **kwargs):
        """The initial states: ``func(name=..., shape=..., **kwargs)`` per entry of
        state_info (func: ``nd.zeros``, ``nd.ones``, ``sym.zeros``, ``sym.var``...; kwargs such
        as ctx or dtype go to func).

        >>> import brass as mx
        >>> [s.shape for s in mx.gluon.rnn.LSTMCell(3).begin_state(batch_size=2)]
        [(2, 3), (2, 3)]
        """
        self._check_unmodified()
        states = []
        for info in self.state_info(batch_size):
            self._init_counter += 1
            info = dict(info or {})
            info.pop("__layout__", None)  # metadata, not an argument of func
            info.update(kwargs)
            states.append(
                func(name="%sbegin_state_%d" % (self._prefix, self._init_counter), **info)
            )
        return states

    def unroll(
        self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None
    ):
        """Runs the cell over ``length`` steps.

        inputs: one tensor in ``layout`` ('NTC' or 'TNC') or a list of length (batch, ...)
        tensors (NDArrays or Symbols). begin_state: the initial states (zeros by default).
        merge_outputs: True gives one tensor in ``layout``, False a list per step, None
        whichever the inputs were. valid_length (batch,): each sequence's length; outputs past
        it are 0 and the returned states are those of its last valid step.
        Returns (outputs, states).
        """
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        begin_state = _get_begin_state(self, F, begin_state, inputs, batch_size)
        states = begin_state
        outputs = []
        all_states = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
            if valid_length is not None:
                all_states.append(states)
        if valid_length is not None:
            states = [
                F.SequenceLast(
                    F.stack(*per_step, axis=0),
                    sequence_length=valid_length,
                    use_sequence_length=True,
                    axis=0,
                )
                for per_step in zip(*all_states)
            ]
            outputs = _mask_sequence_variable_length(F, outputs, length, valid_length, axis, True)
        outputs, _, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, F, inputs, activation, **kwargs):
        """activation applied to inputs: a name ('tanh', 'relu', 'sigmoid', 'softsign' or any
        Activation act_type), a LeakyReLU block, or a function of a tensor."""
        func = (
            {"tanh": F.tanh, "relu": F.relu, "sigmoid": F.sigmoid, "softsign": F.softsign}.get(
                activation
            )
            if isinstance(activation, str)
            else None
        )
        if func is not None:
            return func(inputs, **kwargs)
        if isinstance(activation, str):
            return F.Activation(inputs, act_type=activation, **kwargs)
        if isinstance(activation, LeakyReLU):
            return F.LeakyReLU(inputs, act_type="leaky", slope=activation._alpha, **kwargs)
        return activation(inputs, **kwargs)

    def __call__(self, inputs, states):
        return self.forward(inputs, states)

    def forward(self, inputs, states):
        """One step: (output, new_states)."""
        self._counter += 1
        return super().forward(inputs, states)


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A recurrent cell written as ``hybrid_forward(F, inputs, states, **params)``, which
    runs on NDArrays, traces into a graph when hybridized, and composes into symbols."""

    # HybridBlock's forward: hybridize() traces _hybrid_call below (inputs and the states as
    # one flat argument list) instead of calling a forward of this class.
    forward = HybridBlock.forward

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)

    def __call__(self, inputs, states):
        self._counter += 1
        if not isinstance(inputs, _TENSORS):
            raise BrassError(
                "%s: inputs must be an NDArray or a Symbol, got %s"
                % (self.name, type(inputs).__name__),
                1,
            )
        states = _as_list(states)
        try:
            want = len(self.state_info())
        except NotImplementedError:  # a user's cell without state_info
            want = len(states)
        if want != len(states):
            raise BrassError(
                "%s: %d states given, the cell takes %d" % (self.name, len(states), want), 1
            )
        out = HybridBlock.__call__(self, inputs, *states)
        return out[0], list(out[1:])

    def _hybrid_call(self, F, inputs, *states):
        ctx = None if F is symbol else inputs.context
        params = {k: (p.var() if F is symbol else p.data(ctx)) for k, p in self._reg_params.items()}
        output, new_states = self.hybrid_forward(F, inputs, list(states), **params)
        return [output] + list(new_states)

    def hybrid_forward(self, F, inputs, states, **kwargs):
        raise NotImplementedError


def _step_shapes(cell, inputs, states):
    """An NDArray step input must be (batch, features...) with as many features as i2h_weight
    takes, and the states must have state_info's shapes."""
    if not isinstance(inputs, NDArray):
        return
    if inputs.ndim < 2:
        raise BrassError(
            "%s: one step's input must be (batch, features), got shape %s"
            % (cell.name, inputs.shape),
            2,
        )
    features = int(np.prod(inputs.shape[1:]))
    known = cell.i2h_weight.shape[1]
    if known and features != known:
        raise BrassError(
            "%s: the input has %d features (shape %s), i2h_weight takes %d (shape %s)"
            % (cell.name, features, inputs.shape, known, cell.i2h_weight.shape),
            2,
        )
    for k, (s, info) in enumerate(zip(states, cell.state_info(inputs.shape[0]))):
        if isinstance(s, NDArray) and s.shape != tuple(info["shape"]):
            raise BrassError(
                "%s: state %d has shape %s, expected %s for input %s"
                % (cell.name, k, s.shape, tuple(info["shape"]), inputs.shape),
                2,
            )


class _GatedCell(HybridRecurrentCell):
    """The parameters shared by RNNCell, LSTMCell and GRUCell: i2h_weight (G*H, input_size),
    h2h_weight (G*H, H), i2h_bias and h2h_bias (G*H,)."""

    _gates = 1

    def __init__(
        self,
        hidden_size,
        i2h_weight_initializer,
        h2h_weight_initializer,
        i2h_bias_initializer,
        h2h_bias_initializer,
        input_size,
        prefix,
        params,
    ):
        name = type(self).__name__
        if (
            not isinstance(hidden_size, numbers.Integral)
            or isinstance(hidden_size, bool)
            or hidden_size < 1
        ):
            raise _InvalidArgument(
                "%s: hidden_size must be a positive int, got %r" % (name, hidden_size)
            )
        if not isinstance(input_size, numbers.Integral) or input_size < 0:
            raise _InvalidArgument(
                "%s: input_size must be an int >= 0 (0: inferred), got %r" % (name, input_size)
            )
        super().__init__(prefix=prefix, params=params)
        self._hidden_size = hidden_size
        self._input_size = input_size
        gh = self._gates * hidden_size
        self.i2h_weight = self.params.get(
            "i2h_weight",
            shape=(gh, input_size),
            init=i2h_weight_initializer,
            allow_deferred_init=True,
        )
        self.h2h_weight = self.params.get(
            "h2h_weight",
            shape=(gh, hidden_size),
            init=h2h_weight_initializer,
            allow_deferred_init=True,
        )
        self.i2h_bias = self.params.get(
            "i2h_bias", shape=(gh,), init=i2h_bias_initializer, allow_deferred_init=True
        )
        self.h2h_bias = self.params.get(
            "h2h_bias", shape=(gh,), init=h2h_bias_initializer, allow_deferred_init=True
        )

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def __call__(self, inputs, states):
        _step_shapes(self, inputs, _as_list(states))
        return super().__call__(inputs, states)

    def _projections(self, F, inputs, h, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        prefix = "t%d_" % self._counter
        gh = self._gates * self._hidden_size
        i2h = F.FullyConnected(
            data=inputs, weight=i2h_weight, bias=i2h_bias, num_hidden=gh, name=prefix + "i2h"
        )
        h2h = F.FullyConnected(
            data=h, weight=h2h_weight, bias=h2h_bias, num_hidden=gh, name=prefix + "h2h"
        )
        return prefix, i2h, h2h

    def __repr__(self):
        shape = self.i2h_weight.shape
        return "%s(%s -> %d)" % (type(self).__name__, shape[1] if shape[1] else None, shape[0])


class RNNCell(_GatedCell):
    """Elman RNN cell: h' = activation(x W_i2h^T + b_i2h + h W_h2h^T + b_h2h).

    hidden_size: H. activation: 'tanh' (default), 'relu', another Activation type, a
    LeakyReLU block or a function. input_size: 0 infers it from the first input.
    Parameters: i2h_weight (H, input_size), h2h_weight (H, H), i2h_bias, h2h_bias (H,).
    Inputs: data (batch, input_size) and states [h (batch, H)]; returns (h', [h']).
    """

    def __init__(
        self,
        hidden_size,
        activation="tanh",
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        input_size=0,
        prefix=None,
        params=None,
    ):
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation

    def _alias(self):
        return "rnn"

    def __repr__(self):
        return "%s, %s)" % (super().__repr__()[:-1], self._activation)

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        prefix, i2h, h2h = self._projections(
            F, inputs, states[0], i2h_weight, h2h_weight, i2h_bias, h2h_bias
        )
        output = self._get_activation(
            F,
            F.elemwise_add(i2h, h2h, name=prefix + "plus0"),
            self._activation,
            name=prefix + "out",
        )
        return output, [output]


class LSTMCell(_GatedCell):
    """Long short-term memory cell, gates in MXNet's order i, f, g, o:
    i, f, o = recurrent_activation(x W_i2h^T + b_i2h + h W_h2h^T + b_h2h) (their quarters),
    g = activation(...), c' = f * c + i * g, h' = o * activation(c').

    Parameters: i2h_weight (4H, input_size), h2h_weight (4H, H), i2h_bias, h2h_bias (4H,).
    Inputs: data (batch, input_size) and states [h, c] (batch, H); returns (h', [h', c']).
    """

    _gates = 4

    def __init__(
        self,
        hidden_size,
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        input_size=0,
        prefix=None,
        params=None,
        activation="tanh",
        recurrent_activation="sigmoid",
    ):
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )
        self._activation = activation
        self._recurrent_activation = recurrent_activation

    def _alias(self):
        return "lstm"

    def state_info(self, batch_size=0):
        return [
            {"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
            {"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
        ]

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        prefix, i2h, h2h = self._projections(
            F, inputs, states[0], i2h_weight, h2h_weight, i2h_bias, h2h_bias
        )
        gates = F.SliceChannel(
            F.elemwise_add(i2h, h2h, name=prefix + "plus0"), num_outputs=4, name=prefix + "slice"
        )
        rec = self._recurrent_activation
        in_gate = self._get_activation(F, gates[0], rec, name=prefix + "i")
        forget_gate = self._get_activation(F, gates[1], rec, name=prefix + "f")
        in_transform = self._get_activation(F, gates[2], self._activation, name=prefix + "c")
        out_gate = self._get_activation(F, gates[3], rec, name=prefix + "o")
        next_c = F.elemwise_add(
            F.elemwise_mul(forget_gate, states[1], name=prefix + "mul0"),
            F.elemwise_mul(in_gate, in_transform, name=prefix + "mul1"),
            name=prefix + "state",
        )
        next_h = F.elemwise_mul(
            out_gate,
            self._get_activation(F, next_c, self._activation, name=prefix + "activation0"),
            name=prefix + "out",
        )
        return next_h, [next_h, next_c]


class GRUCell(_GatedCell):
    """Gated recurrent unit (cuDNN's variant, as MXNet: the reset gate multiplies h W_hn^T +
    b_hn), gates r, z, n: r, z = sigmoid(...), n = tanh(x W_in^T + b_in + r * (h W_hn^T +
    b_hn)), h' = (1 - z) * n + z * h.

    Parameters: i2h_weight (3H, input_size), h2h_weight (3H, H), i2h_bias, h2h_bias (3H,).
    Inputs: data (batch, input_size) and states [h (batch, H)]; returns (h', [h']).
    """

    _gates = 3

    def __init__(
        self,
        hidden_size,
        i2h_weight_initializer=None,
        h2h_weight_initializer=None,
        i2h_bias_initializer="zeros",
        h2h_bias_initializer="zeros",
        input_size=0,
        prefix=None,
        params=None,
    ):
        super().__init__(
            hidden_size,
            i2h_weight_initializer,
            h2h_weight_initializer,
            i2h_bias_initializer,
            h2h_bias_initializer,
            input_size,
            prefix,
            params,
        )

    def _alias(self):
        return "gru"

    def hybrid_forward(self, F, inputs, states, i2h_weight, h2h_weight, i2h_bias, h2h_bias):
        h = states[0]
        prefix, i2h, h2h = self._projections(
            F, inputs, h, i2h_weight, h2h_weight, i2h_bias, h2h_bias
        )
        i2h_r, i2h_z, i2h_n = F.SliceChannel(i2h, num_outputs=3, name=prefix + "i2h_slice")
        h2h_r, h2h_z, h2h_n = F.SliceChannel(h2h, num_outputs=3, name=prefix + "h2h_slice")
        reset_gate = F.Activation(
            F.elemwise_add(i2h_r, h2h_r, name=prefix + "plus0"),
            act_type="sigmoid",
            name=prefix + "r_act",
        )
        update_gate = F.Activation(
            F.elemwise_add(i2h_z, h2h_z, name=prefix + "plus1"),
            act_type="sigmoid",
            name=prefix + "z_act",
        )
        candidate = F.Activation(
            F.elemwise_add(
                i2h_n,
                F.elemwise_mul(reset_gate, h2h_n, name=prefix + "mul0"),
                name=prefix + "plus2",
            ),
            act_type="tanh",
            name=prefix + "h_act",
        )
        ones = F.ones_like(update_gate, name=prefix + "ones_like0")
        next_h = F.elemwise_add(
            F.elemwise_mul(
                F.elemwise_sub(ones, update_gate, name=prefix + "minus0"),
                candidate,
                name=prefix + "mul1",
            ),
            F.elemwise_mul(update_gate, h, name=prefix + "mul20"),
            name=prefix + "out",
        )
        return next_h, [next_h]


def _split_states(cells, states, batch_size=0):
    """states cut into each cell's share (by the length of its state_info)."""
    parts, p = [], 0
    for cell in cells:
        n = len(cell.state_info(batch_size))
        parts.append(states[p : p + n])
        p += n
    if p != len(states):
        raise BrassError("%d states given, the stacked cells take %d" % (len(states), p), 1)
    return parts


def _sequential_step(seq, inputs, states):
    cells = list(seq._children.values())
    if any(isinstance(c, BidirectionalCell) for c in cells):
        raise BrassError("%s: a BidirectionalCell cannot be stepped; use unroll" % seq.name, 10)
    next_states = []
    for cell, state in zip(cells, _split_states(cells, _as_list(states))):
        inputs, state = cell(inputs, state)
        next_states.extend(state)
    return inputs, next_states


def _sequential_unroll(seq, length, inputs, begin_state, layout, merge_outputs, valid_length):
    seq.reset()
    inputs, _, F, batch_size = _format_sequence(length, inputs, layout, None)
    cells = list(seq._children.values())
    begin_state = _get_begin_state(seq, F, begin_state, inputs, batch_size, layout.find("N"))
    next_states = []
    for i, (cell, states) in enumerate(zip(cells, _split_states(cells, begin_state))):
        inputs, states = cell.unroll(
            length,
            inputs=inputs,
            begin_state=states,
            layout=layout,
            merge_outputs=None if i < len(cells) - 1 else merge_outputs,
            valid_length=valid_length,
        )
        next_states.extend(states)
    return inputs, next_states


def _stack_repr(seq):
    body = "\n".join(
        "(%s): %s" % (k, repr(m).replace("\n", "\n  ")) for k, m in seq._children.items()
    )
    return "%s(\n%s\n)" % (type(seq).__name__, body)


class _CellStack:
    """What both stacks of cells do: add, state_info, begin_state, a step through every
    cell, unroll, indexing."""

    def __repr__(self):
        return _stack_repr(self)

    def add(self, cell):
        """Appends a cell to the stack."""
        self.register_child(cell)

    def state_info(self, batch_size=0):
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs):
        self._check_unmodified()
        return _cells_begin_state(self._children.values(), **kwargs)

    def __call__(self, inputs, states):
        self._counter += 1
        return _sequential_step(self, inputs, states)

    def unroll(
        self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None
    ):
        return _sequential_unroll(
            self, length, inputs, begin_state, layout, merge_outputs, valid_length
        )

    def __getitem__(self, i):
        return self._children[str(i)]

    def __len__(self):
        return len(self._children)


class SequentialRNNCell(_CellStack, RecurrentCell):
    """Cells stacked: each step's output is the next cell's input; the states are every
    cell's states, in order.

    >>> import brass as mx
    >>> stack = mx.gluon.rnn.SequentialRNNCell()
    >>> with stack.name_scope():
    ...     stack.add(mx.gluon.rnn.LSTMCell(4))
    ...     stack.add(mx.gluon.rnn.GRUCell(3))
    >>> stack.initialize()
    >>> out, states = stack.unroll(2, mx.nd.ones((5, 2, 6)), merge_outputs=True)
    >>> out.shape, len(states)
    ((5, 2, 3), 3)
    """


class HybridSequentialRNNCell(_CellStack, HybridRecurrentCell):
    """SequentialRNNCell for HybridRecurrentCells (usable inside HybridBlocks; hybridize()
    reaches every cell in it)."""

    def hybrid_forward(self, F, inputs, states):
        return _sequential_step(self, inputs, states)


class DropoutCell(HybridRecurrentCell):
    """Dropout on the input (rate: the fraction dropped; axes: axes that share one mask),
    in training only; no states of its own."""

    def __init__(self, rate, axes=(), prefix=None, params=None):
        if not isinstance(rate, numeric_types) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise _InvalidArgument("DropoutCell: rate must be a number in [0, 1], got %r" % (rate,))
        super().__init__(prefix, params)
        self._rate = rate
        self._axes = axes

    def __repr__(self):
        return "%s(rate=%s, axes=%s)" % (type(self).__name__, self._rate, self._axes)

    def state_info(self, batch_size=0):
        return []

    def _alias(self):
        return "dropout"

    def hybrid_forward(self, F, inputs, states):
        if self._rate > 0:
            inputs = F.Dropout(
                data=inputs, p=self._rate, axes=self._axes, name="t%d_fwd" % self._counter
            )
        return inputs, states

    def unroll(
        self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None
    ):
        self.reset()
        inputs, _, F, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, _TENSORS):
            return self.hybrid_forward(F, inputs, begin_state if begin_state else [])
        return super().unroll(
            length,
            inputs,
            begin_state=begin_state,
            layout=layout,
            merge_outputs=merge_outputs,
            valid_length=None,
        )


class ModifierCell(HybridRecurrentCell):
    """The base of cells that change another cell (ZoneoutCell, ResidualCell). The base cell
    is then used through the modifier only; its parameters are the modifier's."""

    def __init__(self, base_cell):
        if not isinstance(base_cell, HybridRecurrentCell):
            raise _InvalidArgument(
                "%s: the base cell must be a HybridRecurrentCell, got %s"
                % (type(self).__name__, type(base_cell).__name__)
            )
        if base_cell._modified:
            raise _InvalidArgument(
                "%s: cell %s is already modified; a cell can be modified once"
                % (type(self).__name__, base_cell.name)
            )
        base_cell._modified = True
        super().__init__(prefix=base_cell.prefix + self._alias(), params=None)
        self.base_cell = base_cell

    @property
    def params(self):
        return self.base_cell.params

    def state_info(self, batch_size=0):
        return self.base_cell.state_info(batch_size)

    def begin_state(self, func=ndarray.zeros, **kwargs):
        self._check_unmodified()
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(func=func, **kwargs)
        finally:
            self.base_cell._modified = True

    def hybrid_forward(self, F, inputs, states):
        raise NotImplementedError

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.base_cell)


class ZoneoutCell(ModifierCell):
    """Zoneout (Krueger et al., 2016): in training, each output and state unit keeps its
    previous value with probability zoneout_outputs / zoneout_states instead of the base
    cell's new one. Not for BidirectionalCell (it cannot be stepped)."""

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        if isinstance(base_cell, BidirectionalCell):
            raise _InvalidArgument(
                "ZoneoutCell: a BidirectionalCell cannot be stepped; wrap the "
                "cells inside it instead"
            )
        for nm, v in (("zoneout_outputs", zoneout_outputs), ("zoneout_states", zoneout_states)):
            if not isinstance(v, numeric_types) or not 0 <= v <= 1:
                raise _InvalidArgument("ZoneoutCell: %s must be in [0, 1], got %r" % (nm, v))
        self._prev_output = None
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states

    def __repr__(self):
        return "%s(p_out=%s, p_state=%s, %r)" % (
            type(self).__name__,
            self.zoneout_outputs,
            self.zoneout_states,
            self.base_cell,
        )

    def _alias(self):
        return "zoneout"

    def reset(self):
        super().reset()
        self._prev_output = None

    def hybrid_forward(self, F, inputs, states):
        p_outputs, p_states = self.zoneout_outputs, self.zoneout_states
        next_output, next_states = self.base_cell(inputs, states)

        def mask(p, like):  # 1 / (1 - p) where the new value is taken, 0 where the old stays
            return F.Dropout(F.ones_like(like), p=p)

        prev_output = self._prev_output
        if prev_output is None or isinstance(prev_output, Symbol) != (F is symbol):
            prev_output = F.zeros_like(next_output)  # the first step (or a trace's leftover)
        output = (
            F.where(mask(p_outputs, next_output), next_output, prev_output)
            if p_outputs != 0
            else next_output
        )
        new_states = (
            [F.where(mask(p_states, new), new, old) for new, old in zip(next_states, states)]
            if p_states != 0
            else next_states
        )
        self._prev_output = output
        return output, new_states


class ResidualCell(ModifierCell):
    """Adds the input to the base cell's output (Wu et al., 2016); the input and output sizes
    must agree."""

    def __init__(self, base_cell):
        super().__init__(base_cell)

    def hybrid_forward(self, F, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = F.elemwise_add(output, inputs, name="t%d_fwd" % self._counter)
        return output, states

    def unroll(
        self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None
    ):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(
                length,
                inputs=inputs,
                begin_state=begin_state,
                layout=layout,
                merge_outputs=merge_outputs,
                valid_length=valid_length,
            )
        finally:
            self.base_cell._modified = True
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, _TENSORS)
        inputs, axis, F, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if valid_length is not None:
            inputs = _mask_sequence_variable_length(
                F, inputs, length, valid_length, axis, merge_outputs
            )
        if merge_outputs:
            outputs = F.elemwise_add(outputs, inputs)
        else:
            outputs = [F.elemwise_add(i, j) for i, j in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(HybridRecurrentCell):
    """Runs l_cell forwards and r_cell backwards in time and concatenates their outputs on
    the feature axis; states are l_cell's then r_cell's. Unroll only (no single steps)."""

    def __init__(self, l_cell, r_cell, output_prefix="bi_"):
        super().__init__(prefix="", params=None)
        self.register_child(l_cell, "l_cell")
        self.register_child(r_cell, "r_cell")
        self._output_prefix = output_prefix

    def __call__(self, inputs, states):
        raise BrassError("BidirectionalCell cannot be stepped; use unroll", 10)

    def __repr__(self):
        return "%s(forward=%r, backward=%r)" % (
            type(self).__name__,
            self._children["l_cell"],
            self._children["r_cell"],
        )

    def state_info(self, batch_size=0):
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, **kwargs):
        self._check_unmodified()
        return _cells_begin_state(self._children.values(), **kwargs)

    def unroll(
        self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None
    ):
        self.reset()
        inputs, axis, F, batch_size = _format_sequence(length, inputs, layout, False)
        if valid_length is None:
            reversed_inputs = list(reversed(inputs))
        else:
            reversed_inputs = F.SequenceReverse(
                F.stack(*inputs, axis=0), sequence_length=valid_length, use_sequence_length=True
            )
            reversed_inputs = _as_list(
                F.split(reversed_inputs, axis=0, num_outputs=length, squeeze_axis=True)
            )
        begin_state = _get_begin_state(self, F, begin_state, inputs, batch_size)
        l_cell, r_cell = self._children.values()
        n_l = len(l_cell.state_info(batch_size))
        l_outputs, l_states = l_cell.unroll(
            length,
            inputs=inputs,
            begin_state=begin_state[:n_l],
            layout=layout,
            merge_outputs=merge_outputs,
            valid_length=valid_length,
        )
        r_outputs, r_states = r_cell.unroll(
            length,
            inputs=reversed_inputs,
            begin_state=begin_state[n_l:],
            layout=layout,
            merge_outputs=False,
            valid_length=valid_length,
        )
        if valid_length is None:
            reversed_r_outputs = list(reversed(r_outputs))
        else:
            reversed_r_outputs = F.SequenceReverse(
                F.stack(*r_outputs, axis=0),
                sequence_length=valid_length,
                use_sequence_length=True,
                axis=0,
            )
            reversed_r_outputs = _as_list(
                F.split(reversed_r_outputs, axis=0, num_outputs=length, squeeze_axis=True)
            )
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, _TENSORS)
            l_outputs, _, _, _ = _format_sequence(None, l_outputs, layout, merge_outputs)
            reversed_r_outputs, _, _, _ = _format_sequence(
                None, reversed_r_outputs, layout, merge_outputs
            )
        if merge_outputs:
            reversed_r_outputs = (
                F.stack(*reversed_r_outputs, axis=axis)
                if not isinstance(reversed_r_outputs, _TENSORS)
                else reversed_r_outputs
            )
            outputs = F.concat(
                l_outputs, reversed_r_outputs, dim=2, name="%sout" % self._output_prefix
            )
        else:
            outputs = [
                F.concat(l_o, r_o, dim=1, name="%st%d" % (self._output_prefix, i))
                for i, (l_o, r_o) in enumerate(zip(l_outputs, reversed_r_outputs))
            ]
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(
                F, outputs, length, valid_length, axis, merge_outputs
            )
        return outputs, l_states + r_states
