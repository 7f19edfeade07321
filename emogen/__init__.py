"""emogen: emotion-controllable generation driven by one shared emotion space."""

from .emotion import Emotion, EmotionCurve
from .errors import CurveError, EmogenError, EmotionError

__version__ = "0.1.0"
__all__ = ["CurveError", "EmogenError", "Emotion", "EmotionCurve", "EmotionError", "__version__"]
