"""Loading Mimi weights: a transformers directory, or Kyutai's published safetensors file.

Kyutai's file (`tokenizer-e351c8d8-checkpoint125.safetensors` beside Moshi's weights) names its
tensors after Kyutai's modules and stores each attention's q, k and v as one matrix whose rows
pair up for an interleaved rotary embedding. The renaming and the row permutation below are
those of transformers' own conversion script, so the same file loads into the same model.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

KYUTAI_RENAMES = [
    ("conv.conv.conv", "conv"), ("convtr.convtr.convtr", "conv"), ("conv.conv", "conv"), ("convtr.convtr", "conv"),
    ("quantizer.rvq_first.vq", "quantizer.semantic_residual_vector_quantizer"),
    ("quantizer.rvq_first", "quantizer.semantic_residual_vector_quantizer"),
    ("quantizer.rvq_rest.vq", "quantizer.acoustic_residual_vector_quantizer"),
    ("quantizer.rvq_rest", "quantizer.acoustic_residual_vector_quantizer"),
    ("_codebook", "codebook"), ("_initialized", "initialized"), ("embedding_sum", "embed_sum"),
    ("encoder.model", "encoder.layers"), ("decoder.model", "decoder.layers"),
    ("encoder_transformer.transformer", "encoder_transformer"), ("decoder_transformer.transformer", "decoder_transformer"),
    ("linear1", "mlp.fc1"), ("linear2", "mlp.fc2"), ("self_attn.out_proj", "self_attn.o_proj"),
    ("norm1", "input_layernorm"), ("norm2", "post_attention_layernorm"),
    ("layer_scale_1", "self_attn_layer_scale"), ("layer_scale_2", "mlp_layer_scale"),
]
# transformers' flat names to MimiModel's halves (encoder.*, decoder.*)
NESTED = [(r"^encoder\.layers", "encoder.encoder_seanet.layers"), (r"^decoder\.layers", "decoder.decoder_seanet.layers"),
          (r"^encoder_transformer\.", "encoder.encoder_transformer."), (r"^downsample\.", "encoder.downsample."),
          (r"^upsample\.", "decoder.upsample."), (r"^decoder_transformer\.", "decoder.decoder_transformer.")]


def interleaved_to_half(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows of a q or k projection from interleaved rotary pairs to transformers' rotate-half order."""
    out, inp = w.shape
    return w.view(heads, out // heads // 2, 2, inp).transpose(1, 2).reshape(out, inp)


def half_to_interleaved(w: torch.Tensor, heads: int) -> torch.Tensor:
    out, inp = w.shape
    return w.view(heads, 2, out // heads // 2, inp).transpose(1, 2).reshape(out, inp)


def rename(key: str, renames) -> str:
    for old, new in renames:
        if old in key:
            key = key.replace(old, new)
    return key


def from_kyutai(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """Kyutai's Mimi tensors under transformers' MimiModel names."""
    out = {}
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    for key, value in state.items():
        name = rename(key, KYUTAI_RENAMES)
        for pattern, target in NESTED:
            name = re.sub(pattern, target, name)
        if name.endswith("self_attn.in_proj_weight"):
            base = name[: -len("in_proj_weight")]
            q_rows, kv_rows = heads * config.head_dim, kv_heads * config.head_dim
            q, k, v = value.split([q_rows, kv_rows, kv_rows])
            out[base + "q_proj.weight"] = interleaved_to_half(q, heads)
            out[base + "k_proj.weight"] = interleaved_to_half(k, kv_heads)
            out[base + "v_proj.weight"] = v
        else:
            out[name] = value
    return out


def load_into(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict loading that names what is missing, unexpected or mis-shaped."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: {list(state[k].shape)} (expected {list(expected[k])})"
             for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k]]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", wrong)):
        if items:
            problems.append(f"{len(items)} {label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}")
    if problems:
        raise ValueError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def model_type(path: Path) -> str | None:
    """transformers' model_type of a directory's config.json, if it has one (others say why they fail)."""
    config = path / "config.json"
    try:
        data = json.loads(config.read_text()) if path.is_dir() and config.is_file() else None
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get("model_type") if isinstance(data, dict) else None


def is_transformers_mimi(path: Path) -> bool:
    return model_type(path) == "mimi"


def load_mimi(path: str | Path):
    """A transformers Mimi (or Moshi) directory, or Kyutai's Mimi safetensors file."""
    from safetensors.torch import load_file
    from transformers import MimiConfig, MimiModel

    path = Path(path)
    if is_transformers_mimi(path):
        return MimiModel.from_pretrained(path)
    if model_type(path) == "moshi":  # transformers' Moshi directory holds Mimi under audio_encoder.
        config = MimiConfig.from_dict(json.loads((path / "config.json").read_text())["audio_encoder_config"])
        model, prefix = MimiModel(config), "audio_encoder."
        state = {}
        for file in sorted(path.glob("*.safetensors")):
            for key, value in load_file(file).items():
                if key.startswith(prefix):
                    name = key[len(prefix):]
                    for pattern, target in NESTED:
                        name = re.sub(pattern, target, name)
                    state[name] = value
        load_into(model, state, f"{path} (audio_encoder)")
        return model
    if path.is_file() and path.suffix == ".safetensors":
        # the published architecture, unless a transformers MimiConfig lies beside the file
        beside = path.parent / "mimi_config.json"
        config = MimiConfig.from_dict(json.loads(beside.read_text())) if beside.is_file() else MimiConfig()
        model = MimiModel(config)
        load_into(model, from_kyutai(load_file(path), model.config), str(path))
        return model
    raise ValueError(f"{path} is neither a transformers Mimi or Moshi directory (config.json of model_type "
                     "'mimi' or 'moshi') nor Kyutai's Mimi .safetensors file")
