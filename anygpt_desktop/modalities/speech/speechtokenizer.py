"""SpeechTokenizer (reference-behaviour §4.1): SEANet encoder/decoder with Snake activations and LSTMs, 8 x 1024 residual VQ.

Loads the released ``speechtokenizer/ckpt.dev`` + ``config.json`` unchanged. Module names mirror the file's keys
(``encoder.model.{i}...``, ``quantizer.vq.layers.{i}._codebook.*``, ``decoder.model.{i}...``) so the state dict loads
strictly. The file stores old-style weight norm (``weight_g``/``weight_v``); the loader folds each pair into a plain
conv ``weight`` once (``torch._weight_norm``, the same op the reference evaluates on every forward).

16 kHz mono in, 50 frames/s: ``encode(wav[B,1,T]) -> codes[8,B,ceil(T/320)]``, ``decode(codes[q,B,N]) -> wav[B,1,N*320]``.
RVQ layer 0 is the LLM's speech unit stream.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anygpt_desktop.modalities.speech.errors import CheckpointError, SpeechInputError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP_LENGTH = 320


@dataclass(frozen=True)
class SpeechTokenizerConfig:
    """The model fields of ``config.json`` (training-only fields are ignored)."""

    n_filters: int = 64
    strides: tuple[int, ...] = (8, 5, 4, 2)
    dimension: int = 1024
    semantic_dimension: int = 768
    bidirectional: bool = True
    dilation_base: int = 2
    residual_kernel_size: int = 3
    n_residual_layers: int = 1
    lstm_layers: int = 2
    activation: str = "Snake"
    sample_rate: int = SAMPLE_RATE
    codebook_size: int = 1024
    n_q: int = 8
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpeechTokenizerConfig":
        names = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in names}
        if "strides" in values:
            values["strides"] = tuple(int(s) for s in values["strides"])
        cfg = cls(**values, extra={k: v for k, v in data.items() if k not in names})
        if cfg.activation != "Snake":
            raise CheckpointError(f"SpeechTokenizer config: activation {cfg.activation!r} is not supported (only Snake)")
        return cfg

    @classmethod
    def from_file(cls, path: Path | str) -> "SpeechTokenizerConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CheckpointError(f"SpeechTokenizer config not found: {path}") from exc
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"SpeechTokenizer config {path} is unreadable: {exc}") from exc
        return cls.from_dict(data)

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["strides"] = list(self.strides)
        return out


# --------------------------------------------------------------------------------------------------- layers


class Snake(nn.Module):
    """``x + 1/(alpha + 1e-9) * sin(alpha x)^2`` with a learnt alpha per channel, shape (1, C, 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


def _reflect_pad(x: Tensor, left: int, right: int) -> Tensor:
    """Reflect padding that also works when the signal is shorter than the pad (zero-extends first)."""
    length = x.shape[-1]
    longest = max(left, right)
    if longest < length:
        return F.pad(x, (left, right), mode="reflect")
    extra = longest - length + 1
    padded = F.pad(F.pad(x, (0, extra)), (left, right), mode="reflect")
    return padded[..., : padded.shape[-1] - extra]


class PaddedConv1d(nn.Module):
    """Non-causal SEANet conv: asymmetric reflect padding so that the output has ceil(T/stride) frames.

    Parameters live at ``conv.conv.{weight,bias}`` (the released key layout).
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.ModuleDict({"conv": nn.Conv1d(cin, cout, kernel_size, stride, dilation=dilation)})

    def forward(self, x: Tensor) -> Tensor:
        conv: nn.Conv1d = self.conv["conv"]  # type: ignore[assignment]
        k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        total = (k - 1) * d - (s - 1)
        length = x.shape[-1]
        frames = (length - k + total) / s + 1
        extra = (math.ceil(frames) - 1) * s + (k - total) - length
        right = total // 2
        return conv(_reflect_pad(x, total - right, right + extra))


class PaddedConvTranspose1d(nn.Module):
    """Non-causal SEANet transposed conv: trims ``kernel - stride`` samples (more on the left for odd totals)."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.convtr = nn.ModuleDict({"convtr": nn.ConvTranspose1d(cin, cout, kernel_size, stride)})

    def forward(self, x: Tensor) -> Tensor:
        conv: nn.ConvTranspose1d = self.convtr["convtr"]  # type: ignore[assignment]
        total = conv.kernel_size[0] - conv.stride[0]
        right = total // 2
        y = conv(x)
        return y[..., total - right : y.shape[-1] - right]


class ResBlock(nn.Module):
    """SEANet residual block: Snake, conv k (dilated), Snake, conv 1, plus a 1x1 conv shortcut."""

    def __init__(self, dim: int, kernel_size: int, dilation: int, compress: int = 2) -> None:
        super().__init__()
        hidden = dim // compress
        self.block = nn.Sequential(
            Snake(dim),
            PaddedConv1d(dim, hidden, kernel_size, dilation=dilation),
            Snake(hidden),
            PaddedConv1d(hidden, dim, 1),
        )
        self.shortcut = PaddedConv1d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.block(x)


class SkipLSTM(nn.Module):
    """LSTM over the time axis of a ``[B, C, T]`` tensor with a residual skip (input tiled x2 when bidirectional)."""

    def __init__(self, dim: int, num_layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.lstm = nn.LSTM(dim, dim, num_layers, bidirectional=bidirectional)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(2, 0, 1)
        y, _ = self.lstm(x)
        if self.bidirectional:
            x = x.repeat(1, 1, 2)
        return (y + x).permute(1, 2, 0)


def _encoder(cfg: SpeechTokenizerConfig) -> nn.Module:
    layers: list[nn.Module] = [PaddedConv1d(1, cfg.n_filters, 7)]
    mult = 1
    for ratio in reversed(cfg.strides):
        width = mult * cfg.n_filters
        for j in range(cfg.n_residual_layers):
            layers.append(ResBlock(width, cfg.residual_kernel_size, cfg.dilation_base**j))
        layers += [Snake(width), PaddedConv1d(width, width * 2, ratio * 2, stride=ratio)]
        mult *= 2
    layers.append(SkipLSTM(mult * cfg.n_filters, cfg.lstm_layers, cfg.bidirectional))
    if cfg.bidirectional:
        mult *= 2
    layers += [Snake(mult * cfg.n_filters), PaddedConv1d(mult * cfg.n_filters, cfg.dimension, 7)]
    module = nn.Module()
    module.model = nn.Sequential(*layers)
    return module


def _decoder(cfg: SpeechTokenizerConfig) -> nn.Module:
    mult = 2 ** len(cfg.strides)
    layers: list[nn.Module] = [
        PaddedConv1d(cfg.dimension, mult * cfg.n_filters, 7),
        SkipLSTM(mult * cfg.n_filters, cfg.lstm_layers, bidirectional=False),
    ]
    for ratio in cfg.strides:
        width = mult * cfg.n_filters
        layers += [Snake(width), PaddedConvTranspose1d(width, width // 2, ratio * 2, ratio)]
        for j in range(cfg.n_residual_layers):
            layers.append(ResBlock(width // 2, cfg.residual_kernel_size, cfg.dilation_base**j))
        mult //= 2
    layers += [Snake(cfg.n_filters), PaddedConv1d(cfg.n_filters, 1, 7)]
    module = nn.Module()
    module.model = nn.Sequential(*layers)
    return module


class Codebook(nn.Module):
    """One RVQ layer's codebook; only ``embed`` is used at inference, the other buffers exist for the file."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))

    def nearest(self, x: Tensor, rows_per_chunk: int = 4096) -> Tensor:
        """Index of the nearest code (Euclidean) for each row of ``x[M, D]``.

        The reference evaluates ``|x|² − 2x·e + |e|²`` in float32. Its rounding error scales with ``|x|²`` and depends
        on how the matrix product is split over threads: on the shared kit two codes 8e-8 apart (in a squared
        distance of 9e-5) swap places at one thread. The same expanded form in float64 is exact to ~1e-16 of
        ``|x|²``, so the truly nearest code wins at any thread count; this is the reference's choice in every case
        its own float32 error does not decide. Rows are done in chunks to bound the ``[M, K]`` distance matrix.
        """
        embed = self.embed.double()
        embed_sq = embed.pow(2).sum(1)
        out = []
        for chunk in x.split(rows_per_chunk):
            c = chunk.double()
            dist = c.pow(2).sum(1, keepdim=True) - 2 * c @ embed.t() + embed_sq
            out.append(dist.argmin(dim=-1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


class _RVQLayer(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self._codebook = Codebook(size, dim)


class ResidualVQ(nn.Module):
    """Residual vector quantiser; keys ``vq.layers.{i}._codebook.*``."""

    def __init__(self, n_q: int, size: int, dim: int) -> None:
        super().__init__()
        self.vq = nn.Module()
        self.vq.layers = nn.ModuleList([_RVQLayer(size, dim) for _ in range(n_q)])

    def codebook(self, i: int) -> Codebook:
        return self.vq.layers[i]._codebook  # type: ignore[index,return-value]

    def encode(self, e: Tensor, n_q: int) -> Tensor:
        """``e[B, D, N]`` -> codes ``[n_q, B, N]``."""
        b, d, n = e.shape
        residual = e.transpose(1, 2).reshape(b * n, d)
        codes = []
        for i in range(n_q):
            book = self.codebook(i)
            idx = book.nearest(residual)
            residual = residual - F.embedding(idx, book.embed)
            codes.append(idx.view(b, n))
        return torch.stack(codes)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[q, B, N]`` (layers 0..q-1) -> summed embeddings ``[B, D, N]``."""
        out: Tensor | float = 0.0
        for i, layer_codes in enumerate(codes):
            out = out + F.embedding(layer_codes, self.codebook(i).embed)
        assert isinstance(out, Tensor)
        return out.transpose(1, 2)


# --------------------------------------------------------------------------------------------------- model


class SpeechTokenizer(nn.Module):
    """The SpeechTokenizer model; build with :func:`load_speechtokenizer` for released checkpoints."""

    def __init__(self, cfg: SpeechTokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = _encoder(cfg)
        self.transform = (
            nn.Linear(cfg.dimension, cfg.semantic_dimension) if cfg.dimension != cfg.semantic_dimension else nn.Identity()
        )
        self.quantizer = ResidualVQ(cfg.n_q, cfg.codebook_size, cfg.dimension)
        self.decoder = _decoder(cfg)

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def _param(self) -> Tensor:
        return self.quantizer.codebook(0).embed

    def encoder_features(self, wav: Tensor) -> Tensor:
        """Pre-quantisation encoder output ``[B, D, N]``."""
        return self.encoder.model(self._check_wav(wav))

    @torch.inference_mode()
    def encode(self, wav: Tensor, n_q: int | None = None) -> Tensor:
        """``wav[B, 1, T]`` float at 16 kHz -> int64 codes ``[n_q, B, ceil(T/320)]``."""
        n_q = self.cfg.n_q if n_q is None else n_q
        if not 1 <= n_q <= self.cfg.n_q:
            raise SpeechInputError(f"n_q must be between 1 and {self.cfg.n_q}, got {n_q}")
        e = self.encoder.model(self._check_wav(wav))
        return self.quantizer.encode(e.float(), n_q)

    @torch.inference_mode()
    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[q, B, N]`` (q <= 8, layers from 0) -> waveform ``[B, 1, N*320]`` float32."""
        codes = self._check_codes(codes)
        ref = self._param()
        quantized = self.quantizer.decode(codes.to(ref.device))
        return self.decoder.model(quantized.to(self._compute_dtype())).float()

    def _compute_dtype(self) -> torch.dtype:
        return self.encoder.model[0].conv["conv"].weight.dtype

    def _check_wav(self, wav: Tensor) -> Tensor:
        if not isinstance(wav, Tensor):
            raise SpeechInputError("audio must be a torch tensor shaped [batch, 1, samples]")
        if wav.ndim != 3 or wav.shape[1] != 1:
            raise SpeechInputError(f"audio must be shaped [batch, 1, samples], got {list(wav.shape)}")
        if wav.shape[-1] == 0:
            raise SpeechInputError("audio is empty (0 samples)")
        if not wav.is_floating_point():
            raise SpeechInputError(f"audio must be floating point samples in [-1, 1], got {wav.dtype}")
        ref = self._param()
        return wav.to(device=ref.device, dtype=self._compute_dtype())

    def _check_codes(self, codes: Tensor) -> Tensor:
        if not isinstance(codes, Tensor) or codes.ndim != 3:
            raise SpeechInputError("speech codes must be a tensor shaped [levels, batch, frames]")
        if codes.is_floating_point() or codes.is_complex():
            raise SpeechInputError(f"speech codes must be integers, got {codes.dtype}")
        q, _, n = codes.shape
        if not 1 <= q <= self.cfg.n_q:
            raise SpeechInputError(f"speech codes have {q} levels; expected 1..{self.cfg.n_q}")
        if n == 0:
            raise SpeechInputError("speech codes are empty (0 frames)")
        if int(codes.min()) < 0 or int(codes.max()) >= self.cfg.codebook_size:
            raise SpeechInputError(f"speech codes must be in 0..{self.cfg.codebook_size - 1}")
        return codes.long()


# --------------------------------------------------------------------------------------------------- loading


def weight_norm_prefixes(model: nn.Module) -> list[str]:
    """State-dict prefixes of every conv that the released file stores as ``weight_g``/``weight_v``."""
    return [name for name, mod in model.named_modules() if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d))]


def fold_weight_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace every ``X.weight_g``/``X.weight_v`` pair by ``X.weight = g * v / ||v||`` (norm over all but dim 0)."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            prefix = key[: -len(".weight_g")]
            v = state.get(prefix + ".weight_v")
            if v is None:
                raise CheckpointError(f"checkpoint has {key} but no {prefix}.weight_v")
            out[prefix + ".weight"] = torch._weight_norm(v, value, 0)
        elif key.endswith(".weight_v"):
            if key[: -len(".weight_v")] + ".weight_g" not in state:
                raise CheckpointError(f"checkpoint has {key} but no matching weight_g")
        else:
            out[key] = value
    return out


def load_state_dict_strict(model: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with a readable error naming missing/unexpected keys and bad shapes."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(want[k].shape)}"
           for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
    if bad:
        problems.append(f"{len(bad)} shape mismatches (e.g. {bad[:2]})")
    if problems:
        raise CheckpointError(f"{what} does not fit the model: " + "; ".join(problems))
    model.load_state_dict(dict(state), strict=True)


def read_state_dict(path: Path | str, what: str) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)`` of a plain state dict, with user-level errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused it: code or objects, not tensors
        raise CheckpointError(
            f"{what} {path} is not a plain weights file (it would run code when loaded, or it is not a checkpoint); "
            "it was not loaded. Download it again."
        ) from exc
    except Exception as exc:  # corrupt / truncated / not a torch file
        raise CheckpointError(f"{what} {path} is damaged or incomplete; download it again. Details: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{what} {path} is not a plain state dict of tensors")
    return dict(state)


def load_speechtokenizer(
    config_path: Path | str,
    ckpt_path: Path | str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> SpeechTokenizer:
    """Build the model from ``config.json`` and load ``ckpt.dev`` strictly (weight norm folded), in eval mode.

    ``dtype`` applies to the convolution/LSTM stack; the RVQ codebooks stay float32 so codes stay exact.
    """
    cfg = SpeechTokenizerConfig.from_file(config_path)
    with torch.device("meta"):
        model = SpeechTokenizer(cfg)
    model = model.to_empty(device="cpu")
    state = fold_weight_norm(read_state_dict(ckpt_path, "SpeechTokenizer checkpoint"))
    load_state_dict_strict(model, state, f"SpeechTokenizer checkpoint {ckpt_path}")
    model.eval().requires_grad_(False)
    model.to(device)
    if dtype != torch.float32:
        model.encoder.to(dtype)
        model.decoder.to(dtype)
    logger.info("SpeechTokenizer loaded from %s (n_filters %d, dim %d)", ckpt_path, cfg.n_filters, cfg.dimension)
    return model
