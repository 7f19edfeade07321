"""`EmotionalVCPipeline`: speech + target emotion -> the same words and voice with that emotion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

from ..emotion import Emotion, EmotionCurve
from ..emotion.curve import as_curve
from ..errors import EmogenError
from ..speech.audio import load_audio
from ..speech.estimator import SpeechEmotionEstimator
from ..speech.renderer import EmotionRenderer
from ..speech.world import WorldVocoder
from .tts import EmotionalSpeechOutput
from .utils import (
    EmotionInput,
    check_intensity,
    check_output_type,
    final_emotion,
    resolve_seed,
    to_output,
)

logger = logging.getLogger(__name__)

AudioInput = str | Path | np.ndarray | tuple
AUTO = "auto"
LONG_INPUT_S = 30.0  # inputs at least this long show a progress bar


class EmotionalVCPipeline(DiffusionPipeline):
    """Emotional voice conversion: any speech -> same words and speaker, target emotion.

    Components:
        vocoder: the `WorldVocoder` (analysis and resynthesis keep the speaker's envelope).
        renderer: the `EmotionRenderer`; the change applied is the target emotion's prosody
            minus the source emotion's, scaled by intensity.
        estimator: the `SpeechEmotionEstimator` that reads the source emotion from the input's
            prosody when none is given (optional: without it the input counts as neutral).

    Example:
        >>> pipe = EmotionalVCPipeline.from_pretrained("pipelines/vc-default")
        >>> out = pipe("speech.wav", emotion="sad", intensity=0.6)
    """

    _optional_components: ClassVar[list[str]] = ["estimator"]

    def __init__(
        self,
        vocoder: WorldVocoder,
        renderer: EmotionRenderer,
        estimator: SpeechEmotionEstimator | None = None,
        max_seconds: float = 600.0,
    ):
        super().__init__()
        self.register_modules(vocoder=vocoder, renderer=renderer, estimator=estimator)
        self.register_to_config(max_seconds=max_seconds)

    @classmethod
    def from_default(cls, **kwargs) -> EmotionalVCPipeline:
        """The embedded default built in code (the same as `pipelines/vc-default`)."""
        if "estimator" not in kwargs:
            kwargs["estimator"] = SpeechEmotionEstimator.default()
        return cls(vocoder=WorldVocoder(), renderer=EmotionRenderer(), **kwargs)

    @torch.no_grad()
    def __call__(
        self,
        audio: AudioInput | list[AudioInput],
        emotion: EmotionInput = "neutral",
        intensity: float | None = None,
        source_emotion: EmotionInput | None = None,
        sample_rate: int | None = None,
        preserve_duration: bool = False,
        emotion_guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
        generator: int | torch.Generator | np.random.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> EmotionalSpeechOutput | tuple:
        """Convert the emotion of `audio`.

        Args:
            audio: a path (wav, flac, ogg, mp3), a mono or stereo array (then give
                `sample_rate`), a `(sample_rate, array)` tuple, or a list of these (a batch).
            emotion: the target: an Emotion, any string form, or an EmotionCurve over seconds
                of the input.
            intensity: replaces the target's intensity, in [0, 1].
            source_emotion: the emotion the input already carries, taken out before the target
                is added. Default (None or "auto"): estimated from each input's prosody by the
                `estimator` (neutral for a pipeline without one); "neutral" treats the input as
                neutral speech.
            sample_rate: the rate of an array input.
            preserve_duration: keep the input's length (rate changes only move time between
                speech and pauses).
            emotion_guidance_scale, num_inference_steps: used by learned converters; the
                embedded renderer ignores them.
            generator: seed of the renderer's jitter and tremor.
            output_type: "np" or "pt".
            return_dict: return an `EmotionalSpeechOutput` instead of a tuple.

        Returns:
            `EmotionalSpeechOutput` (audio at the input's sample rate), echoing the target and,
            in `source_emotions`, the source emotion used for each input.
        """
        # 1. check inputs
        check_output_type(output_type)
        items = audio if isinstance(audio, list) else [audio]
        if not items:
            raise EmogenError("audio is an empty list; give a path, an array or a list of them")
        check_intensity(intensity)
        if emotion_guidance_scale is not None or num_inference_steps is not None:
            logger.info(
                "the rule-based renderer ignores emotion_guidance_scale/num_inference_steps"
            )
        # 2. encode the condition
        target = self._target(emotion, intensity)
        estimate = source_emotion is None or (
            isinstance(source_emotion, str) and source_emotion.strip().lower() == AUTO
        )
        source = None if estimate else as_curve(source_emotion)
        seed = resolve_seed(generator)
        outputs, rates, used, sources = [], [], [], []
        for item in items:
            waveform, rate = load_audio(
                item,
                sample_rate=None,
                max_seconds=self.config.max_seconds,
                source_sample_rate=sample_rate,
            )
            # 3. analyse (and read the source emotion), 4. render the change, 5. resynthesise;
            # a long input shows its stages (WORLD takes ~0.1 s per second of speech).
            long_input = len(waveform) / rate >= LONG_INPUT_S
            with tqdm(total=3, desc="vc", disable=not long_input, leave=False) as stages:
                stages.set_postfix_str("analysing")
                features = self.vocoder.analyze(waveform, rate)
                stages.update()
                item_source = source
                if estimate:
                    stages.set_postfix_str("reading the source emotion")
                    item_source = (
                        self.estimator.estimate(waveform, rate, features)
                        if self.estimator is not None
                        else Emotion.neutral()
                    )
                    logger.info("estimated source emotion: %s", item_source.label())
                stages.update()
                stages.set_postfix_str("rendering")
                rendered = self.renderer.render(
                    waveform,
                    rate,
                    target,
                    source_emotion=item_source,
                    vocoder=self.vocoder,
                    features=features,
                    preserve_duration=preserve_duration,
                    seed=seed,
                )
                stages.update()
            outputs.append(rendered.audio)
            rates.append(rate)
            used.append([final_emotion(target)])
            sources.append(final_emotion(item_source))
        if len(set(rates)) > 1:
            raise EmogenError(
                f"a batch must share one sample rate, got {sorted(set(rates))}; convert them "
                "separately"
            )
        # 6. post-process
        audios = [to_output(a, output_type) for a in outputs]
        if not return_dict:
            return audios, rates[0]
        return EmotionalSpeechOutput(audios, rates[0], used, [[] for _ in items], sources)

    @staticmethod
    def _target(emotion: EmotionInput, intensity: float | None) -> Emotion | EmotionCurve:
        if isinstance(emotion, (list, tuple)):
            raise EmogenError("voice conversion takes one emotion or a curve over seconds")
        curve = as_curve(emotion)
        if curve.unit != "seconds":
            raise EmogenError("voice conversion reads curves over seconds ('happy@0 -> sad@2')")
        if len(curve) == 1:
            target = curve.keyframes[0].emotion
            return target if intensity is None else target.with_intensity(float(intensity))
        return curve if intensity is None else curve.with_intensity(float(intensity))


__all__ = ["EmotionalVCPipeline"]
