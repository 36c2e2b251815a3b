"""Callbacks for Module.fit (MXNet 1.x ``mx.callback``): batch-end callbacks get a
``BatchEndParam`` (epoch, nbatch, eval_metric, locals); epoch-end ones (epoch, symbol,
arg_params, aux_params)."""
import logging
import math
import time

from .model import save_checkpoint

__all__ = ["Speedometer", "ProgressBar", "do_checkpoint", "module_checkpoint", "log_train_metric"]


def do_checkpoint(prefix, period=1):
    """Saves a checkpoint every ``period`` epochs (its number is the epoch count so far)."""
    period = int(max(1, period))

    def _callback(iter_no, symbol, arg, aux):
        if (iter_no + 1) % period == 0:
            save_checkpoint(prefix, iter_no + 1, symbol, arg, aux)
    return _callback


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """Saves ``mod``'s checkpoint (and optimizer states) every ``period`` epochs."""
    period = int(max(1, period))

    def _callback(iter_no, symbol=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def log_train_metric(period, auto_reset=False):
    """Logs the training metric every ``period`` batches."""
    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name, value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Logs samples/s (and the metric, reset after each log when ``auto_reset``) every
    ``frequent`` batches."""

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size, self.frequent, self.auto_reset = batch_size, frequent, auto_reset
        self.init = False
        self.tic = 0.0
        self.last_count = 0

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent == 0:
            elapsed = max(time.time() - self.tic, 1e-9)
            speed = self.frequent * self.batch_size / elapsed
            msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec" % (param.epoch, count - self.frequent, count,
                                                                        speed)
            if param.eval_metric is not None:
                pairs = param.eval_metric.get_name_value()
                if self.auto_reset:
                    param.eval_metric.reset_local()
                msg += "".join("\t%s=%f" % kv for kv in pairs)
            logging.info(msg)
            self.tic = time.time()


class ProgressBar:
    """Logs a text progress bar of ``total`` batches."""

    def __init__(self, total, length=80):
        self.bar_len, self.total = length, total

    def __call__(self, param):
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        logging.info("[%s] %s%s\r", "=" * filled + "-" * (self.bar_len - filled), percents, "%")
