"""The shared emotion space every emogen pipeline speaks (see DESIGN.md, "The emotion space").

`Emotion`, `EmotionCurve` and the taxonomy are torch-free and import fast; the text recognizer,
`EmotionEncoder` and `DirectionBank` load torch, diffusers or a sentence encoder on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .curve import EmotionCurve, Keyframe, as_curve
from .emotion import DEGREE_WORDS, Emotion, EmotionLike, as_emotion
from .taxonomy import Category, Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from .directions import DirectionBank
    from .encoder import EmotionEncoder, EmotionEncoderOutput
    from .text import TextEmotion, recognize_sentences, recognize_text, recognize_texts

_LAZY = {
    "DirectionBank": ".directions",
    "EmotionEncoder": ".encoder",
    "EmotionEncoderOutput": ".encoder",
    "TextEmotion": ".text",
    "recognize_text": ".text",
    "recognize_texts": ".text",
    "recognize_sentences": ".text",
}

__all__ = [
    "DEGREE_WORDS",
    "Category",
    "DirectionBank",
    "Emotion",
    "EmotionCurve",
    "EmotionEncoder",
    "EmotionEncoderOutput",
    "EmotionLike",
    "Keyframe",
    "Taxonomy",
    "TextEmotion",
    "as_curve",
    "as_emotion",
    "load_taxonomy",
    "recognize_sentences",
    "recognize_text",
    "recognize_texts",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
