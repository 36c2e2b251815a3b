"""More Gluon layers (MXNet 1.x names and defaults): activations with parameters, identity and
lambdas, Embedding, the layer/instance/group normalizations, concurrent containers."""
from ...base import BrassError
from ... import initializer as _init
from ..block import Block, HybridBlock
from .basic_layers import Sequential, HybridSequential

__all__ = ["Identity", "Lambda", "HybridLambda", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "Swish", "Embedding",
           "LayerNorm", "InstanceNorm", "GroupNorm", "Concurrent", "HybridConcurrent"]


class Identity(HybridBlock):
    """Returns its input."""

    def hybrid_forward(self, F, x):
        return x


class Lambda(Block):
    """Wraps a function of arrays (or the name of a brass.nd operator)."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            from ... import ndarray as nd
            if not hasattr(nd, function):
                raise BrassError("Lambda: brass.nd has no function %r" % function)
            function = getattr(nd, function)
        elif not callable(function):
            raise BrassError("Lambda: function must be callable or an operator name, got %s"
                             % type(function).__name__)
        self._func = function

    def forward(self, *args):
        return self._func(*args)


class HybridLambda(HybridBlock):
    """Wraps ``function(F, x, ...)`` (or the name of an operator, called as F.<name>(x, ...))."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            name = function
            self._func = lambda F, *args: getattr(F, name)(*args)
        elif callable(function):
            self._func = function
        else:
            raise BrassError("HybridLambda: function must be callable or an operator name, got %s"
                             % type(function).__name__)

    def hybrid_forward(self, F, x, *args):
        return self._func(F, x, *args)


class LeakyReLU(HybridBlock):
    """x for x > 0, alpha * x otherwise."""

    def __init__(self, alpha, **kwargs):
        if alpha < 0:
            raise BrassError("LeakyReLU: alpha must be >= 0, got %r" % (alpha,))
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="leaky", slope=self._alpha, name="fwd")


class PReLU(HybridBlock):
    """LeakyReLU with a learned slope per channel (``in_channels``; 1 shares one)."""

    def __init__(self, alpha_initializer=_init.Constant(0.25), in_channels=1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.alpha = self.params.get("alpha", shape=(in_channels,), init=alpha_initializer)

    def hybrid_forward(self, F, x, alpha):
        return F.LeakyReLU(x, gamma=alpha, act_type="prelu", name="fwd")


class ELU(HybridBlock):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="elu", slope=self._alpha)


class SELU(HybridBlock):
    """Scaled ELU (Klambauer et al.)."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="selu", name="fwd")


class GELU(HybridBlock):
    """x * Phi(x), Phi the standard normal CDF."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="gelu", name="fwd")


class Swish(HybridBlock):
    """x * sigmoid(beta * x)."""

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self._beta = beta

    def hybrid_forward(self, F, x):
        return x * F.sigmoid(self._beta * x, name="fwd")


class Embedding(HybridBlock):
    """Rows of a (input_dim, output_dim) weight picked by integer indices (indices out of range
    are clipped, as the Embedding operator does)."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None, sparse_grad=False,
                 **kwargs):
        super().__init__(**kwargs)
        self._kwargs = {"input_dim": input_dim, "output_dim": output_dim, "dtype": dtype,
                        "sparse_grad": sparse_grad}
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(input_dim, output_dim), init=weight_initializer,
                                          dtype=dtype, allow_deferred_init=True)

    def hybrid_forward(self, F, x, weight):
        return F.Embedding(x, weight, name="fwd", **self._kwargs)


class _AffineNorm(HybridBlock):
    """A normalization followed by gamma * x + beta, gamma and beta of length ``size``
    (``center``/``scale`` False: beta/gamma fixed at their initial values)."""

    def __init__(self, size, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs):
        super().__init__(**kwargs)
        self._epsilon = epsilon
        with self.name_scope():
            self.gamma = self.params.get("gamma", grad_req="write" if scale else "null", shape=(size,),
                                         init=gamma_initializer, allow_deferred_init=True)
            self.beta = self.params.get("beta", grad_req="write" if center else "null", shape=(size,),
                                        init=beta_initializer, allow_deferred_init=True)


class LayerNorm(_AffineNorm):
    """Normalizes along ``axis``, then gamma * x + beta (per element of that axis)."""

    def __init__(self, axis=-1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(in_channels, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        self._axis = axis

    def hybrid_forward(self, F, x, gamma, beta):
        return F.LayerNorm(x, gamma=gamma, beta=beta, axis=self._axis, eps=self._epsilon)


class InstanceNorm(_AffineNorm):
    """Normalizes each sample's channel (``axis``) over the other axes, then gamma * x + beta per
    channel (``scale`` is False by default, as in MXNet: gamma stays 1)."""

    def __init__(self, axis=1, epsilon=1e-5, center=True, scale=False, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(in_channels, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        self._axis = axis

    def hybrid_forward(self, F, x, gamma, beta):
        if self._axis == 1:
            return F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon)
        x = F.swapaxes(x, dim1=1, dim2=self._axis)
        return F.swapaxes(F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon), dim1=1, dim2=self._axis)


class GroupNorm(_AffineNorm):
    """Normalizes each sample's channels in ``num_groups`` groups, then gamma * x + beta with
    gamma and beta per group (MXNet 1.x)."""

    def __init__(self, num_groups=1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(num_groups, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        self._num_groups = num_groups

    def hybrid_forward(self, F, x, gamma, beta):
        return F.GroupNorm(x, gamma=gamma, beta=beta, num_groups=self._num_groups, eps=self._epsilon)


class Concurrent(Sequential):
    """Runs every child on the input and concatenates their outputs along ``axis``."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        from ... import ndarray as nd
        return nd.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class HybridConcurrent(HybridSequential):
    """The hybridizable Concurrent."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F, x):
        return F.concat(*[block(x) for block in self._children.values()], dim=self.axis)
