"""Exact chunked streaming over encodec's SEANet modules, with per-slot state.

A streaming program is compiled once from a module tree into a list of steps.  Each stateful
step owns some state tensors (batch first) in one flat list, so the whole stream state is a
plain list of tensors: easy to reset per slot, and to export to ONNX as explicit inputs/outputs.

State kept per module:
- causal conv: the last (effective kernel - stride) input samples (zeros at start = zero padding)
- transposed conv: the (kernel - stride) output samples that overlap into the next chunk, or,
  computed as a convolution (kernel twice the stride), the last input step
- LSTM: hidden and cell state
"""
from __future__ import annotations

import torch
from torch import nn

from encodec.modules.conv import SConv1d, SConvTranspose1d
from encodec.modules.lstm import SLSTM
from encodec.modules.seanet import SEANetResnetBlock


class StateSpec:
    """Shape (without batch) of one state tensor, and its dtype where it is not the stream's
    (a position counter is int64 whatever the audio's dtype)."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype | None = None):
        self.shape, self.dtype = shape, dtype

    def zeros(self, batch: int, device, dtype) -> torch.Tensor:
        return torch.zeros((batch, *self.shape), device=device, dtype=self.dtype or dtype)


class _Step:
    specs: list[StateSpec] = []

    def __call__(self, x, states):
        raise NotImplementedError


class _Stateless(_Step):
    def __init__(self, module):
        self.module, self.specs = module, []

    def __call__(self, x, states):
        return self.module(x), []


class _CausalConv(_Step):
    def __init__(self, module: SConv1d):
        conv = module.conv.conv
        if not module.causal:
            raise ValueError("streaming needs causal convolutions")
        k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        self.module, self.stride = module, s
        self.context = (k - 1) * d + 1 - s
        self.specs = [StateSpec((conv.in_channels, self.context))] if self.context else []

    def __call__(self, x, states):
        if not self.context:
            return self.module.conv(x), []
        xx = torch.cat([states[0], x], dim=-1)
        return self.module.conv(xx), [xx[..., xx.shape[-1] - self.context:]]


class _CausalConvTranspose(_Step):
    """`run` applies the transposed convolution `conv` (with whatever wraps it: a norm, say)."""

    def __init__(self, run, conv: nn.ConvTranspose1d):
        k, s = conv.kernel_size[0], conv.stride[0]
        self.run, self.bias, self.stride, self.overlap = run, conv.bias, s, k - s
        self.specs = [StateSpec((conv.out_channels, self.overlap))]

    def __call__(self, x, states):
        y = self.run(x)
        n = x.shape[-1] * self.stride
        head = y[..., : self.overlap] + states[0]
        y = torch.cat([head, y[..., self.overlap:]], dim=-1)
        tail = y[..., n:]
        if self.bias is not None:  # the next chunk adds the bias over these samples again
            tail = tail - self.bias[:, None]
        return y[..., :n], [tail]


class _ConvTransposeAsConv(_Step):
    """A transposed convolution whose kernel is twice its stride s, as a convolution of kernel 2
    and s times the output channels, interleaved: the same sums in another order (within 1e-6),
    and ONNX Runtime's convolution does them about 1.3x faster than its transposed one (the whole
    decoder 13% faster: docs/benchmarks.md, "Where a tick goes"). Its state is the previous chunk's last input step.

    Output q*s + j sums x[q] @ W[..., j] and x[q-1] @ W[..., s + j]: tap 1 of the convolution sees
    x[q], tap 0 sees x[q-1]."""

    def __init__(self, conv: nn.ConvTranspose1d):
        self.conv, self.stride = conv, conv.stride[0]
        self.specs = [StateSpec((conv.in_channels, 1))]

    def __call__(self, x, states):
        w, s = self.conv.weight, self.stride  # w [Ci, Co, 2s]
        ci, co = w.shape[0], w.shape[1]
        taps = torch.stack([w[..., s:], w[..., :s]], -1).permute(1, 2, 0, 3).reshape(co * s, ci, 2)
        bias = None if self.conv.bias is None else self.conv.bias.repeat_interleave(s)
        xx = torch.cat([states[0], x], dim=-1)
        y = nn.functional.conv1d(xx, taps, bias)  # [B, Co*s, T]
        batch, frames = x.shape[0], x.shape[-1]
        return y.view(batch, co, s, frames).transpose(2, 3).reshape(batch, co, frames * s), [xx[..., -1:]]

    @staticmethod
    def fits(run: nn.Module, conv: nn.ConvTranspose1d) -> bool:
        """Plain (no norm after it), ungrouped, undilated, unpadded, kernel twice the stride."""
        return (isinstance(getattr(run, "norm", None), nn.Identity) and conv.groups == 1
                and conv.dilation[0] == 1 and conv.padding[0] == 0 and conv.output_padding[0] == 0
                and conv.kernel_size[0] == 2 * conv.stride[0])


class _LSTM(_Step):
    def __init__(self, module: SLSTM):
        lstm = module.lstm
        self.module = module
        shape = (lstm.num_layers, lstm.hidden_size)
        self.specs = [StateSpec(shape), StateSpec(shape)]

    def __call__(self, x, states):
        h, c = states[0].transpose(0, 1).contiguous(), states[1].transpose(0, 1).contiguous()
        seq = x.permute(2, 0, 1)
        y, (h, c) = self.module.lstm(seq, (h, c))
        if self.module.skip:
            y = y + seq
        return y.permute(1, 2, 0), [h.transpose(0, 1), c.transpose(0, 1)]


class _Sequence(_Step):
    def __init__(self, steps: list[_Step]):
        self.steps = steps
        self.specs = [spec for step in steps for spec in step.specs]

    def __call__(self, x, states):
        out, i = [], 0
        for step in self.steps:
            n = len(step.specs)
            x, new = step(x, states[i:i + n])
            out += new
            i += n
        return x, out


class _Residual(_Step):
    def __init__(self, shortcut: _Step, block: _Step):
        self.shortcut, self.block = shortcut, block
        self.specs = self.shortcut.specs + self.block.specs

    def __call__(self, x, states):
        n = len(self.shortcut.specs)
        a, sa = self.shortcut(x, states[:n])
        b, sb = self.block(x, states[n:])
        return a + b, sa + sb


def compile_module(module: nn.Module) -> _Step:
    if isinstance(module, nn.Sequential):
        return _Sequence([compile_module(m) for m in module])
    if isinstance(module, SConv1d):
        return _CausalConv(module)
    if isinstance(module, SConvTranspose1d):
        if not module.causal or module.trim_right_ratio != 1.0:
            raise ValueError("streaming needs causal transposed convolutions trimmed on the right")
        if _ConvTransposeAsConv.fits(module.convtr, module.convtr.convtr):
            return _ConvTransposeAsConv(module.convtr.convtr)
        return _CausalConvTranspose(module.convtr, module.convtr.convtr)
    if isinstance(module, SLSTM):
        return _LSTM(module)
    if isinstance(module, SEANetResnetBlock):
        return _Residual(compile_module(module.shortcut), compile_module(module.block))
    if hasattr(module, "model") and isinstance(module.model, nn.Sequential):  # SEANet encoder/decoder
        return compile_module(module.model)
    if len(list(module.parameters())) == 0:  # activations, Identity
        return _Stateless(module)
    raise TypeError(f"no streaming rule for {type(module).__name__}")


class StreamProgram:
    """A module tree as a pure function: (x, states) -> (y, new_states). `compile` holds the
    streaming rules for the tree's modules (EnCodec's by default; Mimi's in mimi_streaming.py)."""

    def __init__(self, module: nn.Module, compile=compile_module):
        self._root = compile(module)
        self.specs = self._root.specs

    def init_states(self, batch: int, device, dtype=torch.float32) -> list[torch.Tensor]:
        return [spec.zeros(batch, device, dtype) for spec in self.specs]

    def __call__(self, x: torch.Tensor, states: list[torch.Tensor]):
        return self._root(x, states)
