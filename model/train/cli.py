"""`antiphon train codec|lm`: arguments shared by both recipes, and the dispatch."""
from __future__ import annotations

import json


def seconds_range(text: str) -> list[float]:
    """'LO,HI' in seconds, 0 <= LO <= HI <= 2."""
    import argparse

    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI in seconds (e.g. 0.1,0.2), got {text!r}") from None
    if not 0 <= lo <= hi <= 2:
        raise argparse.ArgumentTypeError(f"expected 0 <= LO <= HI <= 2 seconds, got {text!r}")
    return [lo, hi]


def add_arguments(p) -> None:
    p.add_argument("what", choices=["codec", "lm", "words", "bundle", "average"],
                   help="which recipe; words: fit a word head (the user's transcript) on the frozen --lm "
                        "(default: the bundled model); bundle: write --codec and --lm in fp16 to model/bundled (the "
                        "default agent); average: the mean of the --models' weights, written to --out")
    p.add_argument("--out", help="run directory (default ~/.cache/antiphon/runs/<recipe>-...); "
                                 "an existing run resumes from its checkpoint")
    p.add_argument("--steps", type=int, help="train until this step")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int)
    p.add_argument("--data-seed", type=int, help="lm: seed of the rendered questions and the held-out set (default: "
                   "--seed); runs that differ only in --seed then share one cached bank, e.g. to average them")
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--config", help="codec: codec config (small); lm: model config (small)")
    p.add_argument("--codec", help="lm, bundle: the trained codec checkpoint whose tokens the model reads and writes")
    p.add_argument("--lm", help="bundle, words: the trained model checkpoint")
    p.add_argument("--models", nargs="+", help="average: model checkpoints fine-tuned from one --init")
    p.add_argument("--init", help="codec, lm: start a new run from this checkpoint's weights "
                                  "(e.g. model/bundled/codec or model/bundled/lm) instead of random ones")
    p.add_argument("--agent-decoder", action="store_true", default=None,
                   help="codec: fine-tune only the decoder of the --init codec on the agent's voice (the tokens "
                        "stay valid for a model trained on that codec)")
    p.add_argument("--decoder-filters", type=int, help="codec, with --agent-decoder: a decoder this wide (the small "
                   "codec's is 16), trained from random weights on the frozen encoder's tokens")
    p.add_argument("--answers", type=float, help="codec, with --agent-decoder: the share of each batch that is "
                   "the agent's whole answers as the model says them (default 0: random words only)")
    p.add_argument("--seconds", type=float, help="codec: seconds of audio per crop (default 1; the longest answer "
                   "needs 3.5)")
    p.add_argument("--sampling", type=json.loads, help="bundle: sampling defaults as JSON, e.g. "
                   "'{\"audio_temperature\": 0.5}'")
    p.add_argument("--questions", type=int, help="lm: questions each training voice asks (rendered and "
                   "tokenized once; every batch assembles new conversations from them)")
    p.add_argument("--frames", type=int, help="lm: frames per conversation")
    p.add_argument("--dropout", type=float, help="lm: dropout on the residual branches in training (default 0.1)")
    p.add_argument("--user-noise", type=float, help="lm: probability that each user code is replaced by a random "
                   "one in training, so no question is seen twice the same (default 0.1)")
    p.add_argument("--tape-speed", type=float, help="lm, words: each training question is played at a tape speed drawn "
                   "from 1 +- this (pitch, formants and tempo together: new speakers from the same voices; "
                   "default 0)")
    p.add_argument("--sentences", type=float, help="lm, words: the share of training questions spoken as whole sentences "
                   "(espeak-ng's own prosody, word ends by forced alignment) rather than word by word (default 0)")
    p.add_argument("--channel", type=float, help="lm: the share of training questions passed through a random "
                   "microphone path (band limit, noise gate, automatic gain, clipping; default 0)")
    p.add_argument("--agent-gap", type=seconds_range, help="lm: seconds from the end of each training question to "
                   "the agent's first sound, drawn between LO,HI (default 0.1,0.2)")
    p.add_argument("--word-weight", type=float, help="lm: weight of the training-only loss that names each word "
                   "the user has just said (default 0.5; 0 turns it off)")
    p.add_argument("--word-depth", type=int, help="lm, words: the word head reads the block this many below the top "
                   "(default 2: two blocks can attend to the words heard)")
    p.add_argument("--voices", type=int, help="how many training voices to render (lm: espeak-ng voices)")
    p.add_argument("--flite-voices", type=int, help="lm, words: flite training voices besides the espeak-ng ones (its "
                   "slt, awb and kal16 speakers at drawn pitches and rates, whole sentences; default 0)")
    p.add_argument("--dectalk-voices", type=int, help="lm, words: DECtalk training voices besides those (six of its "
                   "speakers at drawn head sizes, pitches and rates, whole sentences; default 0)")
    p.add_argument("--backwards", type=float, help="lm: this share more questions from each voice, played "
                   "backwards and answered 'sorry i did not understand' (default 0)")
    p.add_argument("--nonsense", type=float, help="lm: this share more sentences from each voice made of everyday "
                   "words no question uses, answered 'sorry i did not understand' (default 0)")
    p.add_argument("--save-seconds", type=float, default=1.0,
                   help="checkpoint at most this often; a kill loses at most this much training (default 1)")
    p.add_argument("--every-rank-saves", action="store_true",
                   help="under torchrun, every rank also writes its final weights (to compare them)")
    p.set_defaults(func=main)


def main(args) -> int:
    try:
        return _run(args)
    except ValueError as e:  # bad settings, checkpoints that do not fit together: said, not a traceback
        raise SystemExit(f"antiphon train {args.what}: {e}") from None


def _run(args) -> int:
    common = dict(out=args.out, steps=args.steps, device=args.device, save_seconds=args.save_seconds,
                  every_rank_saves=args.every_rank_saves, seed=args.seed, batch=args.batch, lr=args.lr,
                  config=args.config, voices=args.voices, init=args.init)
    if args.what == "bundle":
        from .bundle import write_bundle
        if not (args.codec and args.lm):
            raise SystemExit("antiphon train bundle needs --codec DIR and --lm DIR")
        print(json.dumps(write_bundle(args.codec, args.lm, sampling=args.sampling)))
        return 0
    if args.what == "average":
        from .average import average_models
        if not (args.models and args.out):
            raise SystemExit("antiphon train average needs --models DIR DIR ... and --out DIR")
        print(json.dumps({"averaged": len(args.models), "out": str(average_models(args.models, args.out))}))
        return 0
    if args.what == "words":
        from .word_recipe import train
        result = train(out=args.out, steps=args.steps, device=args.device, save_seconds=args.save_seconds,
                       seed=args.seed, batch=args.batch, lr=args.lr, voices=args.voices, lm=args.lm,
                       questions=args.questions, frames=args.frames, sentences=args.sentences,
                       flite_voices=args.flite_voices, dectalk_voices=args.dectalk_voices,
                       tape_speed=args.tape_speed, depth=args.word_depth)
    elif args.what == "codec":
        from .codec_recipe import train
        result = train(**common, agent_decoder=args.agent_decoder, decoder_filters=args.decoder_filters,
                       answers=args.answers, seconds=args.seconds)
    else:
        from .lm_recipe import train
        result = train(**common, codec=args.codec, questions=args.questions, frames=args.frames,
                       dropout=args.dropout, user_noise=args.user_noise, word_weight=args.word_weight,
                       word_depth=args.word_depth, tape_speed=args.tape_speed, sentences=args.sentences,
                       channel=args.channel, flite_voices=args.flite_voices, dectalk_voices=args.dectalk_voices,
                       backwards=args.backwards, nonsense=args.nonsense,
                       data_seed=args.data_seed,
                       agent_gap=args.agent_gap)
    print(json.dumps(result))
    return 0
