"""The shared emotion space every emogen pipeline speaks (see DESIGN.md, "The emotion space")."""

from .emotion import DEGREE_WORDS, Emotion, EmotionLike, as_emotion
from .taxonomy import Category, Taxonomy, load_taxonomy

__all__ = [
    "DEGREE_WORDS",
    "Category",
    "Emotion",
    "EmotionLike",
    "Taxonomy",
    "as_emotion",
    "load_taxonomy",
]
