"""`EmotionalVCPipeline`: speech + target emotion -> the same words and voice with that emotion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from tqdm.auto import tqdm

from ..emotion import Emotion, EmotionCurve
from ..emotion.curve import as_curve
from ..emotion.directions import DirectionBank
from ..emotion.encoder import EmotionEncoder
from ..errors import EmogenError
from ..speech.acoustic import (
    FrameDenoiser,
    convert_pitch,
    frame_emotion_embedding,
    frame_tempo,
    sample,
    stretch_frames,
)
from ..speech.audio import load_audio, resample
from ..speech.estimator import SpeechEmotionEstimator
from ..speech.frames import SAMPLE_CLIP, FrameNormalizer, WorldFrameCoder
from ..speech.renderer import EmotionRenderer
from ..speech.world import WorldFeatures, WorldVocoder
from .tts import EmotionalSpeechOutput
from .utils import (
    EmotionInput,
    check_intensity,
    check_learned_components,
    check_output_type,
    final_emotion,
    resolve_seed,
    to_output,
)

logger = logging.getLogger(__name__)

AudioInput = str | Path | np.ndarray | tuple
AUTO = "auto"
LONG_INPUT_S = 30.0  # inputs at least this long show a progress bar


LEARNED = ("denoiser", "emotion_encoder", "scheduler", "frame_coder", "frame_normalizer")


class EmotionalVCPipeline(DiffusionPipeline):
    """Emotional voice conversion: any speech -> same words and speaker, target emotion.

    Two converters share this pipeline. The rule-based one (`pipelines/vc-default`) renders the
    target emotion's prosody minus the source emotion's in WORLD space. The learned one
    (`pipelines/vc-diffusion`, EmoReg: Singh et al. 2024) denoises the target's WORLD frames
    conditioned on the input's frames and the emotion's shifted embedding, frame by frame; a
    tempo bank stretches the input's frames first (the speaking rate an emotion brings), a pitch
    bank moves the result's F0 level and range to the emotion's afterwards, and a renderer
    beside it first takes out a non-neutral source emotion (the model was trained on
    neutral sources).

    Components:
        vocoder: the `WorldVocoder` (analysis and resynthesis keep the speaker's envelope).
        renderer: the `EmotionRenderer`; the change applied is the target emotion's prosody
            minus the source emotion's, scaled by intensity (optional with a learned converter).
        estimator: the `SpeechEmotionEstimator` that reads the source emotion from the input's
            prosody when none is given (optional: without it the input counts as neutral).
        denoiser, emotion_encoder, scheduler, frame_coder, frame_normalizer: the learned
            converter (`FrameDenoiser`, the shared `EmotionEncoder` trained with it, any diffusers
            scheduler with its training config, `WorldFrameCoder`, `FrameNormalizer`): all or
            none.
        tempo: optional with the learned converter: a one-feature `DirectionBank` of log
            duration ratios fitted on the corpus pairs; the input's frames are stretched by it
            (`frame_tempo`) before conversion, unless `preserve_duration`. Without it the
            learned converter keeps the input's timing.
        pitch: optional with the learned converter: a two-feature `DirectionBank` of log F0
            mean shifts and log standard-deviation ratios fitted on the corpus pairs; the
            converted F0 contour gets the source's level and range moved by it
            (`convert_pitch`, the log-Gaussian transform). Without it the model's own contour
            is kept.

    Config of the learned converter: `num_inference_steps` and `emotion_guidance_scale` (the
    defaults of `__call__`), `diffusion_strength` (1: generate from noise; below 1: start from
    the input's frames noised part of the way, SDEdit) and `noise_scale` (the sampling
    temperature; below 1 is smoother); the shipped values are in its model card.

    Example:
        >>> pipe = EmotionalVCPipeline.from_pretrained("pipelines/vc-default")
        >>> out = pipe("speech.wav", emotion="sad", intensity=0.6)
        >>> pipe = load_pipeline("vc-diffusion")   # the learned converter
        >>> out = pipe("speech.wav", emotion="angry", emotion_guidance_scale=1.5, generator=0)
    """

    _optional_components: ClassVar[list[str]] = [
        "renderer",
        "estimator",
        "tempo",
        "pitch",
        *LEARNED,
    ]

    def __init__(
        self,
        vocoder: WorldVocoder,
        renderer: EmotionRenderer | None = None,
        estimator: SpeechEmotionEstimator | None = None,
        denoiser: FrameDenoiser | None = None,
        emotion_encoder: EmotionEncoder | None = None,
        scheduler: SchedulerMixin | None = None,
        frame_coder: WorldFrameCoder | None = None,
        frame_normalizer: FrameNormalizer | None = None,
        tempo: DirectionBank | None = None,
        pitch: DirectionBank | None = None,
        max_seconds: float = 600.0,
        num_inference_steps: int = 20,
        emotion_guidance_scale: float = 1.0,
        diffusion_strength: float = 1.0,
        noise_scale: float = 1.0,
    ):
        super().__init__()
        learned = dict(
            denoiser=denoiser,
            emotion_encoder=emotion_encoder,
            scheduler=scheduler,
            frame_coder=frame_coder,
            frame_normalizer=frame_normalizer,
        )
        check_learned_components(learned, renderer)
        for name, bank in (("tempo", tempo), ("pitch", pitch)):
            if bank is not None and denoiser is None:
                raise EmogenError(
                    f"a {name} bank belongs to the learned converter: give its components"
                )
        self.register_modules(
            vocoder=vocoder,
            renderer=renderer,
            estimator=estimator,
            tempo=tempo,
            pitch=pitch,
            **learned,
        )
        self.register_to_config(
            max_seconds=max_seconds,
            num_inference_steps=num_inference_steps,
            emotion_guidance_scale=emotion_guidance_scale,
            diffusion_strength=diffusion_strength,
            noise_scale=noise_scale,
        )

    @property
    def is_learned(self) -> bool:
        """Whether this pipeline converts with the learned diffusion model."""
        return getattr(self, "denoiser", None) is not None

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
                speech and pauses). The learned converter keeps the input's timing with it set
                or without a tempo bank, and otherwise stretches it uniformly (by the emotion).
            emotion_guidance_scale: learned converter only: classifier-free guidance on the
                emotion (1 the plain model, 0 ignores the emotion, above 1 exaggerates it);
                default from the pipeline's config.
            num_inference_steps: learned converter only: denoising steps (default from the
                config).
            generator: seed of the renderer's jitter and tremor, and of the learned
                converter's noise (the same seed gives the same audio).
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
        if not self.is_learned and (
            emotion_guidance_scale is not None or num_inference_steps is not None
        ):
            logger.info(
                "the rule-based renderer ignores emotion_guidance_scale/num_inference_steps"
            )
        if emotion_guidance_scale is None:
            emotion_guidance_scale = self.config.emotion_guidance_scale
        if num_inference_steps is None:
            num_inference_steps = self.config.num_inference_steps
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
                stages.set_postfix_str("converting" if self.is_learned else "rendering")
                if self.is_learned:
                    converted = self._convert(
                        waveform,
                        rate,
                        target,
                        item_source,
                        features,
                        num_inference_steps,
                        emotion_guidance_scale,
                        seed,
                        progress=long_input,
                        preserve_duration=preserve_duration,
                    )
                else:
                    converted = self.renderer.render(
                        waveform,
                        rate,
                        target,
                        source_emotion=item_source,
                        vocoder=self.vocoder,
                        features=features,
                        preserve_duration=preserve_duration,
                        seed=seed,
                    ).audio
                stages.update()
            outputs.append(converted)
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

    def _convert(
        self,
        waveform: np.ndarray,
        rate: int,
        target: Emotion | EmotionCurve,
        source: Emotion | EmotionCurve,
        features: WorldFeatures,
        num_inference_steps: int,
        emotion_guidance_scale: float,
        seed: int | None,
        progress: bool,
        preserve_duration: bool = False,
    ) -> np.ndarray:
        """The learned path: `(T,)` audio at `rate`; the input's timing stretched by the tempo
        bank (when there is one and not `preserve_duration`), otherwise kept."""
        coder, model_rate = self.frame_coder, self.frame_coder.config.sample_rate
        if not _is_neutral(source):
            if self.renderer is None:
                logger.warning(
                    "the source emotion %s is not taken out: this pipeline has no renderer",
                    final_emotion(source).label(),
                )
            else:  # the model was trained on neutral sources: neutralise first
                waveform = self.renderer.render(
                    waveform,
                    rate,
                    Emotion.neutral(),
                    source_emotion=source,
                    vocoder=self.vocoder,
                    features=features,
                    preserve_duration=True,
                    seed=seed,
                ).audio
                features = None
        if rate != model_rate or features is None:
            features = self.vocoder.analyze(resample(waveform, rate, model_rate), model_rate)
        condition = self.frame_normalizer.normalize(coder.encode(features))
        num_samples = features.num_samples
        tempo = getattr(self, "tempo", None)
        if tempo is not None and not preserve_duration:
            stretch = frame_tempo(tempo, target, condition.shape[0], coder.config.frame_period_ms)
            condition = stretch_frames(condition, stretch)
            num_samples = None
        num_frames = condition.shape[0]
        embedding = frame_emotion_embedding(
            self.emotion_encoder, target, num_frames, coder.config.frame_period_ms
        )
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        if seed is None:
            generator.seed()
        # Below strength 1 the run starts from the input's own frames, noised part of the way
        # (SDEdit, Meng et al. 2022): the speaker and words are kept more closely.
        source = torch.from_numpy(condition)[None]
        frames = sample(
            self.denoiser,
            self.emotion_encoder,
            self.scheduler,
            source,
            emotion_embeds=embedding[None],
            num_inference_steps=num_inference_steps,
            emotion_guidance_scale=emotion_guidance_scale,
            generator=generator,
            progress=progress,
            strength=self.config.diffusion_strength,
            init_frames=source,
            noise_scale=self.config.noise_scale,
        )[0]
        frames = self.frame_normalizer.denormalize(frames.float().cpu().numpy(), clip=SAMPLE_CLIP)
        pitch = getattr(self, "pitch", None)
        if pitch is not None:
            layout = coder.layout
            frames[:, layout.log_f0] = convert_pitch(
                pitch,
                target,
                frames[:, layout.log_f0],
                frames[:, layout.voicing] > 0.5,
                np.log(features.f0[features.f0 > 0]),
                coder.config.frame_period_ms,
            )
        decoded = coder.decode(frames, num_samples=num_samples)
        audio = self.vocoder.synthesize(decoded)
        audio = resample(audio, model_rate, rate)
        if num_samples is None:  # stretched: the new length
            return audio.astype(np.float32)
        length = len(waveform)
        return np.pad(audio[:length], (0, max(0, length - len(audio)))).astype(np.float32)

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


def _is_neutral(emotion: Emotion | EmotionCurve) -> bool:
    keyframes = emotion.keyframes if isinstance(emotion, EmotionCurve) else None
    emotions = [k.emotion for k in keyframes] if keyframes else [emotion]
    return all(e.is_neutral for e in emotions)


__all__ = ["EmotionalVCPipeline"]
