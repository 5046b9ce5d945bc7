"""Moshi's text stream: SentencePiece pieces, with two ids that say nothing (pad, end of pad)."""
from __future__ import annotations

import codecs
import io
import re

BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")

# A few sentences to build a small SentencePiece model for random weights, so that the text path
# (pieces, spaces, pad) is the published model's, only with a smaller vocabulary.
_CORPUS = ("hello how can i help you today . what is the weather like . tell me a story about a dog . "
           "i am fine thank you and you . what time is it now . goodbye see you soon . seven plus five is twelve . "
           "where do you live . what is your name . can you spell cat . count from one to ten please .").split(" . ")


class MoshiTokenizer:
    def __init__(self, model_proto: bytes, pad: int = 3, epad: int = 0):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self.sp.get_piece_size()
        self.PAD, self.EPAD = pad, epad
        self.BOS = self.vocab_size  # the initial token the text stream reads first (not a piece)

    @classmethod
    def from_file(cls, path, pad: int = 3, epad: int = 0) -> "MoshiTokenizer":
        with open(path, "rb") as f:
            return cls(f.read(), pad, epad)

    @classmethod
    def tiny(cls, vocab_size: int) -> "MoshiTokenizer":
        """A SentencePiece model of `vocab_size` pieces trained on a few sentences (random weights)."""
        import sentencepiece

        out = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(_CORPUS * 4), model_writer=out,
                                                 vocab_size=vocab_size, model_type="unigram", unk_id=0,
                                                 bos_id=1, eos_id=2, pad_id=3, hard_vocab_limit=True,
                                                 minloglevel=2, num_threads=1)
        return cls(out.getvalue())

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, tokens) -> str:
        return "".join(TextDecoder(self).decode(int(t)) for t in tokens)

    def text_decoder(self) -> "TextDecoder":
        return TextDecoder(self)


class TextDecoder:
    """Token by token: a piece's word boundary becomes a space; byte pieces wait for the rest of
    their UTF-8 character; pad, end of pad and control pieces say nothing."""

    def __init__(self, tokenizer: MoshiTokenizer):
        self.tok = tokenizer
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, token: int) -> str:
        tok = self.tok
        if token in (tok.PAD, tok.EPAD) or not 0 <= token < tok.vocab_size or tok.sp.is_control(token):
            return ""
        piece = tok.sp.id_to_piece(token)
        match = BYTE_PIECE.match(piece)
        if match:
            return self._bytes.decode(bytes([int(match.group(1), 16)]))
        return self._bytes.decode(b"", final=True) + piece.replace("\u2581", " ")
