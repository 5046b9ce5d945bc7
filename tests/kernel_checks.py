"""Run by test_kernels.py under TRITON_INTERPRET=1: every kernel case against the reference."""
import torch

from antiphon.kernels import reference, triton_decode, triton_prefill

torch.manual_seed(0)
TOL = {torch.float32: 2e-5, torch.float16: 2e-3}


def close(a, b, dtype, what):
    err = (a.float() - b.float()).abs().max().item()
    assert torch.isfinite(a.float()).all(), f"{what}: non-finite output"
    assert err < TOL[dtype] * 50 if dtype == torch.float16 else err < TOL[dtype] * 10, f"{what}: max err {err}"


def prefill_cases():
    for dtype in (torch.float32, torch.float16):
        for (B, H, Hkv, T, D, window) in [(1, 2, 2, 37, 16, None), (2, 4, 2, 40, 32, 9), (1, 2, 1, 20, 64, 1),
                                          (1, 2, 2, 33, 16, 16)]:
            q = torch.randn(B, H, T, D, dtype=dtype)
            k = torch.randn(B, Hkv, T, D, dtype=dtype)
            v = torch.randn(B, Hkv, T, D, dtype=dtype)
            ref = reference.prefill(q.float(), k.float(), v.float(), window)
            got = triton_prefill.prefill(q, k, v, window)
            close(got, ref, dtype, f"prefill {dtype} T={T} D={D} window={window}")


def ring(B, Hkv, C, D, lengths, dtype):
    """A ring cache as the model fills it: slot b has taken lengths[b] steps."""
    k = torch.randn(B, Hkv, C, D, dtype=dtype)
    v = torch.randn(B, Hkv, C, D, dtype=dtype)
    pos = torch.full((B, C), -1, dtype=torch.long)
    for b, n in enumerate(lengths):
        for p in range(max(0, n - C), n):
            pos[b, p % C] = p
    qpos = torch.tensor([max(n - 1, 0) for n in lengths])
    return k, v, pos, qpos


def decode_cases():
    for dtype in (torch.float32, torch.float16):
        for (B, H, Hkv, C, D, lengths, window, splits) in [
            (4, 4, 2, 40, 32, [1, 7, 40, 95], 40, None),   # ragged, wraparound, a single valid key
            (3, 2, 2, 48, 16, [0, 20, 100], 48, 3),        # an empty slot (no key): zeros, no NaN
            (2, 4, 4, 64, 64, [64, 200], 10, 4),           # window smaller than the ring; empty splits
            (2, 8, 2, 33, 16, [5, 33], 33, 5),             # odd length, more splits than needed
        ]:
            k, v, pos, qpos = ring(B, Hkv, C, D, lengths, dtype)
            q = torch.randn(B, H, D, dtype=dtype)
            ref = reference.decode(q.float(), k.float(), v.float(), pos, qpos, window)
            got = triton_decode.decode(q, k, v, pos, qpos, window, splits=splits)
            close(got, ref, dtype, f"decode {dtype} lengths={lengths} window={window} splits={splits}")
            for b, n in enumerate(lengths):
                if n == 0:
                    assert torch.equal(got[b].float(), torch.zeros_like(got[b].float())), "empty slot must be zeros"


def masked_slot_case():
    """A slot whose entries all lie in its future (as after a reset with stale positions) sees nothing."""
    k, v, pos, qpos = ring(2, 2, 16, 16, [10, 10], torch.float32)
    qpos[1] = -1
    q = torch.randn(2, 2, 16)
    got = triton_decode.decode(q, k, v, pos, qpos, 16)
    ref = reference.decode(q, k, v, pos, qpos, 16)
    close(got, ref, torch.float32, "masked slot")
    assert got[1].abs().max() == 0


def gradient_case():
    """Training through kernels.prefill with Triton chosen: the kernels have no backward, so the
    gradients must come from the torch path, equal to the reference's, not silently be missing."""
    from antiphon import kernels

    q, k, v = (torch.randn(2, 4, 30, 16, requires_grad=True) for _ in range(3))
    kernels.prefill(q, k, v, 9).square().sum().backward()
    got = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    reference.prefill(q, k, v, 9).square().sum().backward()
    for name, g, t in zip("qkv", got, (q, k, v)):
        close(g, t.grad, torch.float32, f"gradient of {name} through kernels.prefill")
    with torch.no_grad():
        close(kernels.prefill(q, k, v, 9), triton_prefill.prefill(q, k, v, 9), torch.float32, "no-grad path is Triton")


def model_case():
    """The model's own teacher-forced pass and cached steps through the Triton path."""
    from antiphon.model import SamplingSettings, load_model

    m = load_model("random:tiny", device=torch.get_default_device())  # scripts/gpu_check.sh runs this on CUDA
    s = m.stream(2)
    for i in range(2):
        s.configure(i, SamplingSettings(text_temperature=0, audio_temperature=0))
    toks, logits = [], []
    for t in range(40):
        s.step(torch.randint(0, 64, (2, 2)))
        toks.append(s.last_tokens[0])
        logits.append(s.last_logits[1][0])
    with torch.no_grad():
        full = m(torch.stack(toks)[None])[1][0]
    close(full, torch.stack(logits), torch.float32, "model steps vs pass")


if __name__ == "__main__":
    prefill_cases()
    decode_cases()
    masked_slot_case()
    gradient_case()
    model_case()
    print("all kernel checks passed")
