"""Estimate the emotion a recording already carries from its prosody (voice conversion's source).

Voice conversion adds the target emotion's prosody and takes out the source's (renderer controls
= target - source), so it needs to know how emotional the input already is. The estimator reads
that from the acoustic correlates of `emogen.speech.prosody`, in the same DirectionBank model
the renderer uses (EmoReg, Singh et al. 2024): a recording's features are

    x - mu_neutral = intensity * sum_f w_f * d_f + noise,   noise ~ N(0, Sigma)

over speaker-robust cues only: F0 range, slope and final rise, jitter, energy range, alpha
ratio, HNR, speech rate and pauses. Mean F0 and level are left out: they say more about the
speaker and the microphone than about the emotion (a low voice is not a sad one). The family
steps d_f (at intensity 1) and the neutral statistics are fitted on the bundled voice's
renderings of the cited profiles (training/speech_emotion_estimator/fit.py), with Sigma the
pooled covariance of what the model leaves unexplained (mostly how sentences differ). One
sentence carries little evidence (at intensity 1 a family sits only a few Sigma-units from
neutral), so `estimate` reads one family, not a mixture: for each family the generalised least
squares step along d_f alone, w_f = d_f' Sigma^-1 z / d_f' Sigma^-1 d_f, and the gain in fit it
buys, w_f^2 d_f' Sigma^-1 d_f (a chi-square statistic with one degree of freedom under neutral
speech); the family with the largest gain wins, with intensity w_f. A gain below what 90 % of
neutral renderings of sentences NOT used in the fit reach reads as neutral.

What it measures is how far speech sits along the renderer's own profiles. It has not been
checked on recorded emotional speech (no such corpus is available offline), so for recordings
whose emotion you know, pass `source_emotion` to the pipeline instead.

Example:
    >>> estimator = SpeechEmotionEstimator.from_pretrained("pipelines/vc-default/estimator")
    >>> estimator.estimate(audio, 22050)
    Emotion(sad:0.62 | v=-0.45 a=-0.23 d=-0.18)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..emotion import Emotion, as_emotion
from ..emotion.taxonomy import load_taxonomy
from ..errors import EmogenError
from .prosody import ProsodyFeatures, prosody_features
from .world import WorldFeatures

__all__ = ["ROBUST_FEATURES", "SpeechEmotionEstimator"]

# Prosody features that change with emotion more than with the speaker or the recording chain.
ROBUST_FEATURES = (
    "f0_range_semitones",
    "f0_slope_semitones_per_s",
    "f0_final_rise_semitones",
    "jitter_percent",
    "energy_range_db",
    "spectral_tilt_db",
    "hnr_db",
    "speech_rate",
    "pause_ratio",
)


class SpeechEmotionEstimator(EmogenComponent):
    """Emotion of speech from its prosody, as intensity along fitted family directions.

    Args:
        feature_names: the prosody features used (names from `ProsodyFeatures.NAMES`).
        neutral_mean: mean of each feature over neutral speech.
        whitening: `(F, F)` matrix W with W^T W = Sigma^-1 (Sigma: the residual covariance).
        families: the emotion families with a direction.
        directions: `(len(families), F)` full-intensity steps in feature units.
        min_gain: the best family's gain in fit must exceed this, else the speech is neutral.

    Example:
        >>> estimator = SpeechEmotionEstimator.fit(neutral_rows, rows, ["sad:0.5", ...])
        >>> estimator.estimate(audio, 22050).label()
        'sad:0.62'
    """

    config_name = "estimator_config.json"

    @register_to_config
    def __init__(
        self,
        feature_names: Sequence[str] = ROBUST_FEATURES,
        neutral_mean: Sequence[float] | None = None,
        whitening: Sequence[Sequence[float]] | None = None,
        families: Sequence[str] = (),
        directions: Sequence[Sequence[float]] = (),
        min_gain: float = 2.71,
    ):
        unknown = [name for name in feature_names if name not in ProsodyFeatures.NAMES]
        if unknown or not feature_names:
            raise EmogenError(
                f"feature_names must be prosody features, got unknown {unknown}; allowed: "
                f"{', '.join(ProsodyFeatures.NAMES)}"
            )
        size = len(feature_names)
        self.mean = np.zeros(size) if neutral_mean is None else np.asarray(neutral_mean, float)
        self.whitening = np.eye(size) if whitening is None else np.asarray(whitening, float)
        self.steps = np.asarray(directions, dtype=float).reshape(len(families), size)
        if self.mean.shape != (size,) or self.whitening.shape != (size, size):
            raise EmogenError(f"neutral_mean needs {size} values and whitening {size}x{size}")
        if not all(np.isfinite(a).all() for a in (self.mean, self.whitening, self.steps)):
            raise EmogenError("neutral_mean, whitening and directions must be finite")
        for family in families:
            load_taxonomy().resolve(family)
        if not (isinstance(min_gain, int | float) and 0 <= min_gain < float("inf")):
            raise EmogenError(f"min_gain must be a finite number >= 0, got {min_gain!r}")
        self._index = [ProsodyFeatures.NAMES.index(name) for name in feature_names]

    @classmethod
    def default(cls) -> SpeechEmotionEstimator:
        """The estimator fitted on the bundled voice (data/estimator, written by
        training/speech_emotion_estimator/fit.py)."""
        return cls.from_pretrained(Path(str(resources.files(__package__))) / "data" / "estimator")

    @classmethod
    def fit(
        cls,
        neutral: np.ndarray,
        features: np.ndarray,
        emotions: Sequence[Emotion | str],
        calibration: np.ndarray | None = None,
        feature_names: Sequence[str] = ROBUST_FEATURES,
        false_alarm_rate: float = 0.1,
        **kwargs,
    ) -> SpeechEmotionEstimator:
        """Fit from prosody vectors (`ProsodyFeatures.as_array()` rows).

        Args:
            neutral: `(M, 12)` features of neutral renderings.
            features: `(N, 12)` features of emotional renderings.
            emotions: their N emotions (a family, with intensity: "sad:0.5").
            calibration: `(K, 12)` features of neutral renderings of OTHER sentences, which set
                `min_gain`; None uses `neutral` (which underestimates it).
            false_alarm_rate: share of the calibration renderings allowed to read as emotional.
        """
        from ..emotion.directions import DirectionBank

        index = [ProsodyFeatures.NAMES.index(name) for name in feature_names]
        neutral = np.asarray(neutral, dtype=float)[:, index]
        rows = np.asarray(features, dtype=float)[:, index]
        if neutral.shape[0] < 2 * len(index):
            raise EmogenError(
                f"fit needs at least {2 * len(index)} neutral examples to estimate the noise"
            )
        mean = neutral.mean(axis=0)
        bank = DirectionBank.fit(rows - mean, emotions, neutral_features=np.zeros((1, len(index))))
        steps = bank.unit_directions * bank.magnitudes[:, None]
        # Residuals: neutral rows around the mean, emotional rows around their modelled point.
        weights = np.array(
            [
                [bank.weights(e).get(f, 0.0) for f in bank.categories]
                for e in (as_emotion(e) for e in emotions)
            ]
        )
        intensities = np.array([as_emotion(e).intensity for e in emotions])
        residuals = np.concatenate(
            [neutral - mean, rows - mean - (intensities[:, None] * weights) @ steps]
        )
        covariance = np.cov(residuals, rowvar=False) + 1e-9 * np.eye(len(index))
        whitening = np.linalg.cholesky(np.linalg.inv(covariance)).T  # W^T W = Sigma^-1
        estimator = cls(
            feature_names=tuple(feature_names),
            neutral_mean=mean.tolist(),
            whitening=whitening.tolist(),
            families=list(bank.categories),
            directions=steps.tolist(),
            min_gain=0.0,
            **kwargs,
        )
        held = neutral if calibration is None else np.asarray(calibration, dtype=float)[:, index]
        gains = [estimator._fit_each(row)[1].max() for row in held]
        threshold = float(np.quantile(gains, 1.0 - false_alarm_rate))
        estimator.register_to_config(min_gain=round(threshold, 4))
        return estimator

    def _fit_each(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per family: the step w_f along d_f alone (GLS) and the gain in fit, for the used
        features `vector`. Steps against a direction (w_f < 0) gain nothing."""
        whitened = self.whitening @ self.steps.T  # (F, C)
        norms = np.maximum((whitened**2).sum(axis=0), 1e-12)
        steps = whitened.T @ (self.whitening @ (vector - self.mean)) / norms
        return steps, np.maximum(steps, 0.0) ** 2 * norms

    def weights(self, prosody: ProsodyFeatures | np.ndarray) -> dict[str, float]:
        """Each family's step along its own direction (0 when the speech moves against it)."""
        steps, _ = self._fit_each(self._used(prosody))
        return dict(zip(self.config.families, np.maximum(steps, 0.0).tolist()))

    def estimate_from_prosody(self, prosody: ProsodyFeatures | np.ndarray) -> Emotion:
        """The family whose direction explains `prosody` best, at its fitted intensity; neutral
        when no family gains more than `min_gain`."""
        steps, gains = self._fit_each(self._used(prosody))
        best = int(np.argmax(gains))
        if gains[best] <= self.config.min_gain:
            return Emotion.neutral()
        intensity = float(np.clip(steps[best], 0.0, 1.0))
        return Emotion.from_category(self.config.families[best], intensity=round(intensity, 3))

    def _used(self, prosody: ProsodyFeatures | np.ndarray) -> np.ndarray:
        vector = prosody.as_array() if isinstance(prosody, ProsodyFeatures) else prosody
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (len(ProsodyFeatures.NAMES),):
            raise EmogenError(f"a prosody vector has shape ({len(ProsodyFeatures.NAMES)},)")
        if not self.config.families:
            raise EmogenError("this estimator has no fitted families; fit it first")
        return vector[self._index]

    def estimate(
        self, audio: np.ndarray, sample_rate: int, features: WorldFeatures | None = None
    ) -> Emotion:
        """Estimate the emotion of `(T,)` mono speech (its WORLD analysis may be passed)."""
        return self.estimate_from_prosody(prosody_features(audio, sample_rate, features))

    def describe(self) -> Mapping[str, dict[str, float]]:
        """family -> {feature: full-intensity step in feature units}, for reading the fit."""
        return {
            family: dict(zip(self.config.feature_names, step.round(3).tolist()))
            for family, step in zip(self.config.families, self.steps)
        }
