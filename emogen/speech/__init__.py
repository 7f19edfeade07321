"""Speech: the neural voice, audio I/O, WORLD analysis/synthesis and prosody features.

Exports load lazily, so `import emogen.speech.audio` does not pay for onnxruntime or diffusers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .audio import load_audio, rms_db, save_audio
    from .estimator import SpeechEmotionEstimator
    from .prosody import ProsodyFeatures, prosody_features
    from .voice import (
        PhonemeTiming,
        PiperVoice,
        VoiceInfo,
        VoiceOutput,
        count_syllables,
        list_voices,
    )
    from .world import WorldFeatures, WorldVocoder

_LAZY = {
    "load_audio": ".audio",
    "save_audio": ".audio",
    "rms_db": ".audio",
    "SpeechEmotionEstimator": ".estimator",
    "ProsodyFeatures": ".prosody",
    "prosody_features": ".prosody",
    "PhonemeTiming": ".voice",
    "PiperVoice": ".voice",
    "VoiceInfo": ".voice",
    "VoiceOutput": ".voice",
    "count_syllables": ".voice",
    "list_voices": ".voice",
    "WorldFeatures": ".world",
    "WorldVocoder": ".world",
}
__all__ = [
    "PhonemeTiming",
    "PiperVoice",
    "ProsodyFeatures",
    "SpeechEmotionEstimator",
    "VoiceInfo",
    "VoiceOutput",
    "WorldFeatures",
    "WorldVocoder",
    "count_syllables",
    "list_voices",
    "load_audio",
    "prosody_features",
    "rms_db",
    "save_audio",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
