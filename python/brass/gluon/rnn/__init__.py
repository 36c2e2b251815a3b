"""Recurrent networks (MXNet 1.x ``gluon.rnn``): the fused layers RNN, LSTM and GRU, and the
cells (RNNCell, LSTMCell, GRUCell and the cells that stack, wrap or combine them)."""

from .rnn_cell import *  # noqa: F401,F403
from .rnn_layer import *  # noqa: F401,F403
