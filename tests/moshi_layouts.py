"""Checkpoints in the published layouts for the loader tests, from transformers' reference models.

transformers' layout is written by transformers itself (`save_pretrained`). Kyutai's layout is
written by inverting transformers' conversion script (its renames and its rotary row permutation),
with the depth transformer's per-codebook projections stacked codebook by codebook, as Kyutai's
`StreamingMultiheadAttention._load_hook` reads them. Names and shapes are Kyutai's.
"""
from __future__ import annotations

import json

import torch
from safetensors.torch import save_file
from transformers.models.mimi.modeling_mimi import MimiConvTranspose1d

from antiphon.codec.mimi_checkpoint import half_to_interleaved


def kyutai_mimi(mimi) -> dict[str, torch.Tensor]:
    cfg, out = mimi.config, {}
    transposed = {name for name, m in mimi.named_modules() if isinstance(m, MimiConvTranspose1d)}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in mimi.state_dict().items():
        value = value.clone().contiguous()
        parts = key.split(".")
        if key.startswith(("encoder.encoder_seanet.layers", "decoder.decoder_seanet.layers")):
            half = parts[0]
            module = ".".join(parts[:-2])
            conv = "convtr.convtr" if module in transposed else "conv.conv"
            rest = ".".join(parts[3:-2])
            out[f"{half}.model.{rest}.{conv}.{parts[-1]}"] = value
        elif key.startswith(("encoder.downsample", "decoder.upsample")):
            out[f"{parts[1]}.{'convtr.convtr.convtr' if parts[1] == 'upsample' else 'conv.conv.conv'}.{parts[-1]}"] = value
        elif "_transformer." in key:
            name = ".".join(parts[1:]).replace(f"{parts[1]}.", f"{parts[1]}.transformer.", 1)
            for new, old in (("mlp.fc1", "linear1"), ("mlp.fc2", "linear2"), ("self_attn.o_proj", "self_attn.out_proj"),
                             ("input_layernorm", "norm1"), ("post_attention_layernorm", "norm2"),
                             ("self_attn_layer_scale", "layer_scale_1"), ("mlp_layer_scale", "layer_scale_2")):
                name = name.replace(new, old)
            if any(p in name for p in ("q_proj", "k_proj", "v_proj")):
                base, which = name.split(".self_attn.")
                qkv.setdefault(base, {})[which[0]] = value
            else:
                out[name] = value
        elif key.startswith("quantizer."):
            name = key.replace("semantic_residual_vector_quantizer", "rvq_first").replace(
                "acoustic_residual_vector_quantizer", "rvq_rest").replace("codebook.", "_codebook.").replace(
                "embed_sum", "embedding_sum").replace("initialized", "_initialized")
            name = name.replace("rvq_first.layers", "rvq_first.vq.layers").replace("rvq_rest.layers", "rvq_rest.vq.layers")
            out[name] = value
        else:
            raise AssertionError(f"unmapped Mimi tensor {key}")
    for base, w in qkv.items():
        q = half_to_interleaved(w["q"], cfg.num_attention_heads)
        k = half_to_interleaved(w["k"], cfg.num_key_value_heads)
        out[f"{base}.self_attn.in_proj_weight"] = torch.cat([q, k, w["v"]])
    return out


def kyutai_lm(lm) -> dict[str, torch.Tensor]:
    """Antiphon's MoshiLM (already in interleaved rotary order, as Kyutai's) under Kyutai's names."""
    cfg, s = lm.cfg, {k: v.clone().contiguous() for k, v in lm.state_dict().items()}
    out = {"text_emb.weight": s["text_emb.weight"], "out_norm.alpha": s["out_norm.weight"].view(1, 1, -1),
           "text_linear.weight": s["text_head.weight"], "depformer_text_emb.weight": s["depth.text_emb.weight"]}
    for i in range(2 * cfg.num_codebooks):
        out[f"emb.{i}.weight"] = s[f"audio_emb.{i}.weight"]
    for i in range(cfg.layers):
        p, q = f"transformer.layers.{i}", f"layers.{i}"
        out[f"{p}.self_attn.in_proj_weight"] = torch.cat([s[f"{q}.wq.weight"], s[f"{q}.wk.weight"], s[f"{q}.wv.weight"]])
        out[f"{p}.self_attn.out_proj.weight"] = s[f"{q}.wo.weight"]
        out[f"{p}.norm1.alpha"] = s[f"{q}.norm1.weight"].view(1, 1, -1)
        out[f"{p}.norm2.alpha"] = s[f"{q}.norm2.weight"].view(1, 1, -1)
        out[f"{p}.gating.linear_in.weight"] = s[f"{q}.fc1.weight"]
        out[f"{p}.gating.linear_out.weight"] = s[f"{q}.fc2.weight"]
    K = cfg.num_codebooks
    for i in range(cfg.depth_layers):
        p, q = f"depformer.layers.{i}", f"depth.layers.{i}"
        out[f"{p}.self_attn.in_proj_weight"] = torch.cat(
            [torch.cat([s[f"{q}.wq"][j], s[f"{q}.wk"][j], s[f"{q}.wv"][j]]) for j in range(K)])
        out[f"{p}.self_attn.out_proj.weight"] = torch.cat([s[f"{q}.wo"][j] for j in range(K)])
        out[f"{p}.norm1.alpha"] = s[f"{q}.norm1.weight"].view(1, 1, -1)
        out[f"{p}.norm2.alpha"] = s[f"{q}.norm2.weight"].view(1, 1, -1)
        for j in range(K):
            out[f"{p}.gating.{j}.linear_in.weight"] = s[f"{q}.fc1"][j]
            out[f"{p}.gating.{j}.linear_out.weight"] = s[f"{q}.fc2"][j]
    for j in range(K):
        out[f"depformer_in.{j}.weight"] = s["depth.input_proj"][j]
        out[f"linears.{j}.weight"] = s["depth.heads"][j]
        if j < K - 1:
            out[f"depformer_emb.{j}.weight"] = s[f"depth.audio_emb.{j}.weight"]
    return out


def write_kyutai_dir(path, lm, mimi, spm_proto: bytes, heads: dict) -> None:
    """Kyutai's file names; config.json names the head counts the shapes cannot tell."""
    path.mkdir(parents=True, exist_ok=True)
    save_file(kyutai_lm(lm), str(path / "model.safetensors"))
    save_file(kyutai_mimi(mimi), str(path / "tokenizer-e351c8d8-checkpoint125.safetensors"))
    (path / "mimi_config.json").write_text(mimi.config.to_json_string())
    (path / "tokenizer_spm_32k_3.model").write_bytes(spm_proto)
    (path / "config.json").write_text(json.dumps(heads))
