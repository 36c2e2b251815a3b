"""Learning-rate schedules (MXNet 1.x ``mx.lr_scheduler``): a scheduler maps the optimizer's
update count to a learning rate, with an optional warm-up (linear from ``warmup_begin_lr``, or
constant at it) over the first ``warmup_steps`` updates.

>>> s = FactorScheduler(step=10, factor=0.5, base_lr=1.0)
>>> [s(n) for n in (1, 10, 11, 21)]
[1.0, 1.0, 0.5, 0.25]
"""
import logging
import math

from .base import BrassError

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler", "CosineScheduler"]


class LRScheduler:
    """Base class: ``__call__(num_update)`` returns the learning rate for that update."""

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise BrassError("LRScheduler: warmup_steps must be an integer >= 0, got %r" % (warmup_steps,))
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise BrassError("LRScheduler: base_lr (%g) must be at least warmup_begin_lr (%g)"
                             % (base_lr, warmup_begin_lr))
        if warmup_mode not in ("linear", "constant"):
            raise BrassError("LRScheduler: warmup_mode must be 'linear' or 'constant', got %r" % (warmup_mode,))
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """The learning rate at update ``num_update`` < ``warmup_steps``."""
        if self.warmup_mode == "linear":
            inc = (self.warmup_final_lr - self.warmup_begin_lr) * float(num_update) / float(self.warmup_steps)
            return self.warmup_begin_lr + inc
        return self.warmup_begin_lr

    def __call__(self, num_update):
        raise NotImplementedError("LRScheduler subclasses define __call__")


class FactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` every ``step`` updates, never below ``stop_factor_lr``."""

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise BrassError("FactorScheduler: step must be at least 1, got %r" % (step,))
        if factor > 1.0:
            raise BrassError("FactorScheduler: factor must be at most 1 (the rate decreases), got %r" % (factor,))
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # A loop, not a test: training resumed at a later update catches up at once.
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info("Update[%d]: learning rate reached %0.5e and stays there", num_update, self.base_lr)
            else:
                logging.info("Update[%d]: learning rate changed to %0.5e", num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` after each update count in the increasing list ``step``."""

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, (list, tuple)) or len(step) < 1:
            raise BrassError("MultiFactorScheduler: step must be a non-empty list, got %r" % (step,))
        for i, s in enumerate(step):
            if i and s <= step[i - 1]:
                raise BrassError("MultiFactorScheduler: step must be increasing, got %r" % (list(step),))
            if s < 1:
                raise BrassError("MultiFactorScheduler: every step must be at least 1, got %r" % (list(step),))
        if factor > 1.0:
            raise BrassError("MultiFactorScheduler: factor must be at most 1, got %r" % (factor,))
        self.step = list(step)
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info("Update[%d]: learning rate changed to %0.5e", num_update, self.base_lr)
        return self.base_lr


class _Decay(LRScheduler):
    """From ``base_lr`` down to ``final_lr`` over the max_update - warmup_steps updates after the
    warm-up, along ``_shape`` (1 at the start, 0 at the end); ``final_lr`` from max_update on."""

    def __init__(self, max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int) or max_update < 1:
            raise BrassError("%s: max_update must be a positive integer, got %r" % (type(self).__name__, max_update))
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            frac = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * self._shape(frac)
        return self.base_lr


class PolyScheduler(_Decay):
    """``final_lr + (base_lr - final_lr) * (1 - t / T) ** pwr`` after the warm-up, t counted from
    its end and T = max_update - warmup_steps; ``final_lr`` from max_update on."""

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        self.power = pwr

    def _shape(self, frac):
        return pow(1 - frac, self.power)


class CosineScheduler(_Decay):
    """Half a cosine from ``base_lr`` down to ``final_lr`` over max_update - warmup_steps updates."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)

    def _shape(self, frac):
        return (1 + math.cos(math.pi * frac)) / 2
