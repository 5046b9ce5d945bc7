"""Loading a downloaded Moshi checkpoint: Kyutai's published layout or transformers' layout.

Kyutai's directory (kyutai/moshiko-pytorch-bf16 and the like) holds the language model's
safetensors (`model.safetensors`), Mimi's (`tokenizer-*.safetensors`) and the SentencePiece
model (`tokenizer_spm_32k_3.model`). Its attention projections pair rotary channels as ours do;
the depth transformer stores one q/k/v block per codebook. transformers' directory has a
config.json of model_type "moshi", its weights (Mimi's under `audio_encoder.`), and needs the
same SentencePiece file beside them; its q and k rows are in rotate-half order and are permuted.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from antiphon.codec.mimi_checkpoint import half_to_interleaved, load_into, model_type

from .moshi import MoshiModel
from .moshi_config import MOSHI_CONFIGS, MoshiConfig
from .moshi_tokenizer import MoshiTokenizer

SPM_HINT = "the SentencePiece model of the published checkpoint (tokenizer_spm_32k_3.model)"


def read_safetensors(paths) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = {}
    for p in paths:
        state.update(load_file(p))
    return state


def detect(path: Path) -> str | None:
    """'kyutai', 'transformers', or None when the directory is not a Moshi checkpoint."""
    if not path.is_dir():
        return None
    if model_type(path) == "moshi":
        return "transformers"
    if (path / "model.safetensors").is_file() and list(path.glob("tokenizer-*.safetensors")):
        return "kyutai"
    return None


def _tokenizer(path: Path) -> MoshiTokenizer:
    found = sorted(path.glob("*.model"))
    if not found:
        raise ValueError(f"{path} holds no SentencePiece model: copy {SPM_HINT} into it")
    return MoshiTokenizer.from_file(found[0])


# ---- transformers' layout ----------------------------------------------------------------------------

# transformers' names -> ours: a temporal layer's, a depth layer's (one weight per codebook), the rest
HF_TEMPORAL = {"input_layernorm.weight": "norm1.weight", "post_attention_layernorm.weight": "norm2.weight",
               "self_attn.q_proj.weight": "wq.weight", "self_attn.k_proj.weight": "wk.weight",
               "self_attn.v_proj.weight": "wv.weight", "self_attn.o_proj.weight": "wo.weight",
               "mlp.fc1.weight": "fc1.weight", "mlp.fc2.weight": "fc2.weight"}
HF_DEPTH = {"input_layernorm.weight": "norm1.weight", "post_attention_layernorm.weight": "norm2.weight",
            "self_attn.q_proj.weight": "wq", "self_attn.k_proj.weight": "wk", "self_attn.v_proj.weight": "wv",
            "self_attn.o_proj.weight": "wo", "mlp.fc1.weight": "fc1", "mlp.fc2.weight": "fc2"}
HF_FIXED = {"decoder.model.embed_tokens.weight": "text_emb.weight", "decoder.model.norm.weight": "out_norm.weight",
            "decoder.lm_head.weight": "text_head.weight", "depth_decoder.text_embed_tokens.weight": "depth.text_emb.weight",
            "depth_decoder.input_projections.weight": "depth.input_proj", "depth_decoder.lm_heads.weight": "depth.heads"}


def from_transformers(state: dict[str, torch.Tensor], cfg: MoshiConfig) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.startswith("audio_encoder."):
            continue  # Mimi: the codec loads it
        name = key.replace(".linear.weight", ".weight")
        m = re.match(r"decoder\.model\.layers\.(\d+)\.(.*)", name)
        d = re.match(r"depth_decoder\.layers\.(\d+)\.(.*)", name)
        if m:
            rest = HF_TEMPORAL.get(m.group(2), m.group(2))
            if rest in ("wq.weight", "wk.weight"):
                value = half_to_interleaved(value, cfg.heads if rest == "wq.weight" else cfg.kv_heads)
            out[f"layers.{m.group(1)}.{rest}"] = value
        elif d:
            rest = HF_DEPTH.get(d.group(2), d.group(2))
            out[f"depth.layers.{d.group(1)}.{rest}"] = value
        else:
            name = HF_FIXED.get(name, name)
            name = re.sub(r"^embed_tokens\.(\d+)\.", r"audio_emb.\1.", name)
            name = re.sub(r"^depth_decoder\.embed_tokens\.(\d+)\.", r"depth.audio_emb.\1.", name)
            out[name] = value
    return out


def load_transformers(path: Path, dtype) -> MoshiModel:
    from transformers import AutoConfig

    hf = AutoConfig.from_pretrained(path)
    cfg = MoshiConfig.from_transformers(hf, name=f"{path.parent.name}/{path.name}", codec=f"mimi:{path}")
    model = MoshiModel(cfg, _tokenizer(path))
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{path} has a Moshi config.json but no .safetensors weights")
    load_into(model.lm, from_transformers(read_safetensors(files), cfg), str(path))
    return model.to(dtype)


# ---- Kyutai's layout ---------------------------------------------------------------------------------

def kyutai_config(state: dict[str, torch.Tensor], path: Path) -> MoshiConfig:
    """Sizes from the tensors' shapes; head counts and context from config.json where it names
    them (newer Kyutai repositories), else the published 7B model's."""
    extra = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    base = MOSHI_CONFIGS["moshi-7b"]
    try:
        dim, layers = state["text_emb.weight"].shape[1], 1 + max(
            int(k.split(".")[2]) for k in state if k.startswith("transformer.layers."))
        K = len([k for k in state if re.fullmatch(r"linears\.\d+\.weight", k)])
        depth_layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("depformer.layers."))
        return MoshiConfig(
            name=f"{path.parent.name}/{path.name}", codec=f"mimi:{sorted(path.glob('tokenizer-*.safetensors'))[0]}",
            num_codebooks=K, cardinality=state["linears.0.weight"].shape[0],
            text_vocab=state["text_linear.weight"].shape[0], dim=dim, layers=layers,
            heads=extra.get("num_heads", base.heads), kv_heads=extra.get("num_heads", base.heads) // extra.get("kv_repeat", 1),
            ffn=state["transformer.layers.0.gating.linear_in.weight"].shape[0], context=extra.get("context", base.context),
            rope_base=float(extra.get("max_period", base.rope_base)), depth_dim=state["depformer_text_emb.weight"].shape[1],
            depth_layers=depth_layers, depth_heads=extra.get("depformer_num_heads", base.depth_heads),
            depth_ffn=state["depformer.layers.0.gating.0.linear_in.weight"].shape[0],
            text_pad=extra.get("existing_text_padding_id", base.text_pad)).validate()
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}/model.safetensors is not a Moshi language model in Kyutai's layout "
                         f"(missing or mis-shaped {e})") from None


def _projection(state, prefix: str, which: str, steps: int) -> torch.Tensor:
    """Kyutai stores per-step projections either stacked (`in_proj_weight`, rows step by step) or
    as one tensor per step (`in_projs.{i}.weight`); either way [steps, out, in]."""
    stacked = state.pop(f"{prefix}.{which}_proj_weight" if which == "in" else f"{prefix}.{which}_proj.weight", None)
    if stacked is not None:
        return stacked.view(steps, -1, stacked.shape[-1])
    return torch.stack([state.pop(f"{prefix}.{which}_projs.{i}.weight") for i in range(steps)])


def from_kyutai(state: dict[str, torch.Tensor], cfg: MoshiConfig) -> dict[str, torch.Tensor]:
    state, out = dict(state), {}
    hd, d = cfg.head_dim, cfg.depth_dim
    for i in range(cfg.layers):
        p = f"transformer.layers.{i}"
        q, k, v = _projection(state, f"{p}.self_attn", "in", 1)[0].split([cfg.heads * hd, cfg.kv_heads * hd, cfg.kv_heads * hd])
        out.update({f"layers.{i}.wq.weight": q, f"layers.{i}.wk.weight": k, f"layers.{i}.wv.weight": v,
                    f"layers.{i}.wo.weight": _projection(state, f"{p}.self_attn", "out", 1)[0]})
        for src, dst in (("norm1.alpha", "norm1.weight"), ("norm2.alpha", "norm2.weight"),
                         ("gating.linear_in.weight", "fc1.weight"), ("gating.linear_out.weight", "fc2.weight")):
            out[f"layers.{i}.{dst}"] = state.pop(f"{p}.{src}").reshape(-1) if "alpha" in src else state.pop(f"{p}.{src}")
    K = cfg.num_codebooks
    for i in range(cfg.depth_layers):
        p = f"depformer.layers.{i}"
        qkv = _projection(state, f"{p}.self_attn", "in", K)
        out.update({f"depth.layers.{i}.wq": qkv[:, :d], f"depth.layers.{i}.wk": qkv[:, d:2 * d],
                    f"depth.layers.{i}.wv": qkv[:, 2 * d:], f"depth.layers.{i}.wo": _projection(state, f"{p}.self_attn", "out", K),
                    f"depth.layers.{i}.norm1.weight": state.pop(f"{p}.norm1.alpha").reshape(-1),
                    f"depth.layers.{i}.norm2.weight": state.pop(f"{p}.norm2.alpha").reshape(-1),
                    f"depth.layers.{i}.fc1": torch.stack([state.pop(f"{p}.gating.{j}.linear_in.weight") for j in range(K)]),
                    f"depth.layers.{i}.fc2": torch.stack([state.pop(f"{p}.gating.{j}.linear_out.weight") for j in range(K)])})
    out["depth.input_proj"] = torch.stack([state.pop(f"depformer_in.{j}.weight") for j in range(K)])
    out["depth.heads"] = torch.stack([state.pop(f"linears.{j}.weight") for j in range(K)])
    for key in list(state):
        for pattern, target in ((r"^text_emb\.", "text_emb."), (r"^emb\.(\d+)\.", r"audio_emb.\1."),
                                (r"^out_norm\.alpha$", "out_norm.weight"), (r"^text_linear\.", "text_head."),
                                (r"^depformer_text_emb\.", "depth.text_emb."),
                                (r"^depformer_emb\.(\d+)\.", r"depth.audio_emb.\1.")):
            if re.search(pattern, key):
                value = state.pop(key)
                out[re.sub(pattern, target, key)] = value.reshape(-1) if key.endswith("alpha") else value
                break
    out.update(state)  # whatever is left is reported as unexpected
    return out


def load_kyutai(path: Path, dtype) -> MoshiModel:
    state = read_safetensors([path / "model.safetensors"])
    cfg = kyutai_config(state, path)
    model = MoshiModel(cfg, _tokenizer(path))
    try:
        mapped = from_kyutai(state, cfg)
    except KeyError as e:
        raise ValueError(f"{path}/model.safetensors lacks {e} for a Moshi model of {cfg.layers} layers") from None
    load_into(model.lm, mapped, f"{path}/model.safetensors")
    return model.to(dtype)


def load_moshi_dir(path: Path, dtype=torch.float32) -> MoshiModel:
    kind = detect(path)
    if kind == "kyutai":
        return load_kyutai(path, dtype)
    if kind == "transformers":
        return load_transformers(path, dtype)
    raise ValueError(f"{path} is not a Moshi checkpoint: expected Kyutai's layout (model.safetensors, "
                     "tokenizer-*.safetensors, a SentencePiece .model) or transformers' (config.json of "
                     "model_type 'moshi' with its .safetensors)")
