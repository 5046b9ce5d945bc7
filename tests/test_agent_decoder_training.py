"""The agent-decoder codec recipe on tiny configs: what it tunes and what it keeps, its answer
crops, and a wider decoder."""
import json
from pathlib import Path

import pytest
import torch

from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from training_runs import weights


def test_agent_decoder_tunes_only_the_decoder_and_bundles_with_the_models_codec(training_cache, tiny_codec_dir, tmp_path):
    """The decoder learns the agent's voice; the encoder and codebooks (the tokens a model was
    trained on) stay exactly as they were, and the bundle accepts the pair."""
    from antiphon.model import load_model
    from antiphon.model.checkpoint import save_checkpoint as save_lm
    from antiphon.model.train.bundle import write_bundle
    from antiphon.model.train.codec_recipe import train

    with pytest.raises(ValueError, match="pass it with --init"):
        train(out=tmp_path / "no-init", steps=1, config="tiny", batch=2, agent_decoder=True)
    result = train(out=tmp_path / "dec", steps=3, config="tiny", batch=2, init=str(tiny_codec_dir), agent_decoder=True)
    start, after = weights(tiny_codec_dir), weights(result["checkpoint"])
    kept = [k for k in start if not k.startswith("decoder.")]
    assert kept and all(torch.equal(start[k], after[k]) for k in kept)  # quantizer buffers included
    assert any(not torch.equal(start[k], after[k]) for k in start if k.startswith("decoder."))
    meta = json.loads((Path(result["checkpoint"]) / "config.json").read_text())
    assert meta["tokens_from"] == str(tiny_codec_dir.resolve())
    lm = save_lm(load_model("random:tiny"), tmp_path / "lm", codec=str(tiny_codec_dir))
    assert write_bundle(result["checkpoint"], lm, tmp_path / "bundled")["bytes"] > 0
    # tuned again from the bundle's decoder: the tokens are still the first codec's, and the bundled
    # model (which names the bundle's codec, not the first) goes with the new decoder
    again = train(out=tmp_path / "again", steps=1, config="tiny", batch=2, init=str(tmp_path / "bundled" / "codec"),
                  agent_decoder=True)
    assert json.loads((Path(again["checkpoint"]) / "config.json").read_text())["tokens_from"] == \
        str(tiny_codec_dir.resolve())
    assert write_bundle(again["checkpoint"], tmp_path / "bundled" / "lm", tmp_path / "bundled2")["bytes"] > 0
    other = save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=1), CODEC_CONFIGS["tiny"], tmp_path / "other")
    with pytest.raises(ValueError, match="was trained on the tokens of"):
        write_bundle(other, tmp_path / "bundled" / "lm", tmp_path / "bundled3")


def test_agent_decoder_answer_crops_hold_the_tokens_the_model_says(training_cache, tiny_codec_dir, tmp_path):
    """--answers: a crop of the agent's answer encodes to the very tokens the model's data gives that
    answer (encoded once from silence, on a frame boundary), which are what the served decoder voices."""
    import numpy as np

    from antiphon.codec import load_codec
    from antiphon.model.data import UtteranceMaker, all_answers
    from antiphon.model.train.codec_recipe import SpeechSegments, train
    from antiphon.model.train.lm_data import LEAD, Float32Encoder, encode_utterances

    for bad, match in ((dict(answers=0.5), "use it with --agent-decoder"),
                       (dict(answers=1.5, agent_decoder=True, init=str(tiny_codec_dir)), r"in \[0, 1\]")):
        with pytest.raises(ValueError, match=match):
            train(out=tmp_path / "bad", steps=1, config="tiny", batch=2, **bad)
    codec = load_codec(str(tiny_codec_dir))
    fs, rate = codec.frame_size, codec.sample_rate
    data = SpeechSegments(rate, fs, voices=1, seed=0, agent_only=True, answers=1.0)
    maker, encode = UtteranceMaker(rate, fs), Float32Encoder(codec)
    said = {a: maker.agent_utterance(a)[0] for a in all_answers()}
    samples = -(-(LEAD * fs + max(map(len, said.values()))) // fs) * fs  # room for the longest answer
    crops = data.batch(step=0, rank=0, size=4, samples=samples)[:, 0].numpy()

    def answers_in(crop):
        at = LEAD * fs
        return [a for a, pcm in said.items() if not crop[:at].any() and not crop[at + len(pcm):].any()
                and np.array_equal(crop[at: at + len(pcm)], pcm)]
    for crop in crops:
        found = answers_in(crop)
        assert len(found) == 1
        pcm = said[found[0]]
        (served,), _ = encode_utterances(encode, [pcm], [0], fs, None, rate)
        codes = encode([crop]).numpy()[0, :, LEAD:]
        n = -(-len(pcm) // fs)  # the answer's frames (the crop may end before the served tail does)
        assert np.array_equal(codes[:, :n], served[:, :n])
    mixed = SpeechSegments(rate, fs, voices=1, seed=0, agent_only=True, answers=0.5).batch(0, 0, 32, samples)
    assert 0 < sum(bool(answers_in(c[0])) for c in mixed.numpy()) < 32


def test_wider_agent_decoder_keeps_the_tokens_and_starts_its_decoder_fresh(training_cache, tiny_codec_dir, tmp_path):
    """--decoder-filters: the encoder and codebooks come from --init unchanged, the decoder is the
    wider one (random at the start), and the checkpoint records its width."""
    from antiphon.codec import load_codec
    from antiphon.model.train.codec_recipe import train

    with pytest.raises(ValueError, match="use it with --agent-decoder"):
        train(out=tmp_path / "plain", steps=1, config="tiny", batch=2, decoder_filters=8, init=str(tiny_codec_dir))
    result = train(out=tmp_path / "wide", steps=2, config="tiny", batch=2, init=str(tiny_codec_dir),
                   agent_decoder=True, decoder_filters=2 * CODEC_CONFIGS["tiny"].n_filters)
    start, after = weights(tiny_codec_dir), weights(result["checkpoint"])
    assert all(torch.equal(start[k], after[k]) for k in start if not k.startswith("decoder."))
    widths = {k: v.shape for k, v in after.items() if k.startswith("decoder.")}
    assert widths != {k: v.shape for k, v in start.items() if k.startswith("decoder.")}
    codec = load_codec(result["checkpoint"])
    assert codec.config.decoder_filters == 2 * CODEC_CONFIGS["tiny"].n_filters
    wav = torch.randn(1, 1, 4 * codec.frame_size) * 0.2
    assert torch.equal(codec.encode(wav), load_codec(tiny_codec_dir).encode(wav))
    # going on from the wide decoder (as from the bundle) keeps its width and its weights
    again = train(out=tmp_path / "again", steps=1, config="tiny", batch=2, init=result["checkpoint"],
                  agent_decoder=True, lr=1e-12)
    later = weights(again["checkpoint"])
    assert all(torch.allclose(after[k].float(), later[k].float(), atol=1e-6) for k in after if k.startswith("decoder."))
