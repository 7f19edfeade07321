"""`EmotionalTTSPipeline`: text + emotion -> emotional speech (DESIGN.md, pipeline 1)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from tqdm.auto import tqdm

from ..emotion import Emotion, EmotionCurve, as_emotion
from ..emotion.curve import as_curve
from ..emotion.encoder import EmotionEncoder
from ..emotion.text import split_sentences
from ..errors import EmogenError
from ..speech.acoustic import FrameDenoiser
from ..speech.diffusion_tts import PhonemeAcousticModel, generate_frames, phoneme_tokens
from ..speech.frames import SAMPLE_CLIP, FrameNormalizer, WorldFrameCoder
from ..speech.renderer import EmotionRenderer
from ..speech.voice import PhonemeTiming, PiperVoice, VoiceOutput
from ..speech.world import WorldVocoder
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

AUTO = "auto"
# The learned path's components: all of them, or none (the rule-based renderer).
LEARNED_COMPONENTS = (
    "acoustic_model",
    "denoiser",
    "emotion_encoder",
    "scheduler",
    "frame_coder",
    "frame_normalizer",
)
PEAK = 0.99  # the learned path's output is scaled down to this peak if it exceeds it


@dataclass
class EmotionalSpeechOutput(BaseOutput):
    """Output of the speech pipelines.

    Attributes:
        audios: one waveform per input, `(T,)` float32 numpy arrays (or torch tensors with
            `output_type="pt"`).
        sample_rate: in Hz.
        emotions: per input, the emotion used for each sentence (TTS) or the whole clip (VC).
        sentences: per input, the sentences spoken (TTS) or `[]` (VC).
        source_emotions: VC only: per input, the emotion taken out (given or estimated).
        sentence_starts: TTS only: per input, when each sentence starts (seconds).
        alignments: TTS only: per input, when each phoneme is spoken (seconds from the start
            of the waveform; None when the voice gives no alignment), e.g. for the talking head.
    """

    audios: list
    sample_rate: int
    emotions: list[list[Emotion]]
    sentences: list[list[str]]
    source_emotions: list[Emotion] | None = None
    sentence_starts: list[list[float]] | None = None
    alignments: list[list[PhonemeTiming] | None] | None = None


@dataclass
class SpeechChunk:
    """One sentence of streamed speech (`EmotionalTTSPipeline.stream`).

    `alignment`: when each phoneme of the sentence is spoken, in seconds from the chunk's start,
    after the emotion's rate and pause changes (None when the voice gives no alignment).
    """

    audio: np.ndarray
    sample_rate: int
    sentence: str
    emotion: Emotion
    index: int
    alignment: list[PhonemeTiming] | None = None


class EmotionalTTSPipeline(DiffusionPipeline):
    """Emotional text-to-speech: rule-based (a neural voice and the emotion renderer) or learned
    (the diffusion acoustic model of `training/tts_diffusion`).

    Components:
        voice: a `PiperVoice` (any Piper VITS model): it speaks the text neutrally (rule-based
            path) and phonemizes it (both paths).
        vocoder: the `WorldVocoder` that analyses and resynthesises the speech.
        renderer: the `EmotionRenderer` that turns an Emotion or EmotionCurve into prosody (the
            rule-based path).
        acoustic_model, denoiser, emotion_encoder, scheduler, frame_coder, frame_normalizer:
            the learned path (`emogen.speech.diffusion_tts`): phonemes + emotion ->
            `PhonemeAcousticModel` (durations, pitch, energy, prior mu) -> `FrameDenoiser` with
            any diffusers scheduler -> denormalised `WorldFrameCoder` frames -> the vocoder.
            Give all six, or none. Its config: `num_inference_steps` and
            `emotion_guidance_scale` (the defaults of `__call__`), `diffusion_strength` (1: the
            denoiser generates from noise; below 1: a shallow run from the prior mu, DiffSinger)
            and `noise_scale` (the sampling temperature; below 1 is smoother).

    Text is split into sentences; each sentence gets its own emotion (one for all, a list, a
    sentence curve `happy@#0 -> sad@#2`, a curve over seconds, or `"auto"` to follow the text),
    and the pipeline can stream the result sentence by sentence.

    Example:
        >>> pipe = EmotionalTTSPipeline.from_pretrained("pipelines/tts-default")
        >>> out = pipe("I can't believe we won!", emotion="happy", intensity=0.8, generator=0)
        >>> audio, rate = out.audios[0], out.sample_rate
    """

    model_cpu_offload_seq = ""
    _optional_components: ClassVar[list[str]] = ["renderer", *LEARNED_COMPONENTS]

    def __init__(
        self,
        voice: PiperVoice,
        vocoder: WorldVocoder,
        renderer: EmotionRenderer | None = None,
        acoustic_model: PhonemeAcousticModel | None = None,
        denoiser: FrameDenoiser | None = None,
        emotion_encoder: EmotionEncoder | None = None,
        scheduler: SchedulerMixin | None = None,
        frame_coder: WorldFrameCoder | None = None,
        frame_normalizer: FrameNormalizer | None = None,
        max_characters: int = 5000,
        sentence_pause_s: float = 0.3,
        loudness_db: float = -28.0,
        num_inference_steps: int = 20,
        emotion_guidance_scale: float = 1.0,
        diffusion_strength: float = 1.0,
        noise_scale: float = 1.0,
    ):
        super().__init__()
        learned = {
            name: value
            for name, value in (
                ("acoustic_model", acoustic_model),
                ("denoiser", denoiser),
                ("emotion_encoder", emotion_encoder),
                ("scheduler", scheduler),
                ("frame_coder", frame_coder),
                ("frame_normalizer", frame_normalizer),
            )
        }
        complete = check_learned_components(learned, renderer)
        if complete and frame_coder.config.sample_rate != voice.sample_rate:
            raise EmogenError(
                f"the frame coder codes {frame_coder.config.sample_rate} Hz but the voice "
                f"speaks at {voice.sample_rate} Hz; they must match"
            )
        self.register_modules(voice=voice, vocoder=vocoder, renderer=renderer, **learned)
        self.register_to_config(
            max_characters=max_characters,
            sentence_pause_s=sentence_pause_s,
            loudness_db=loudness_db,
            num_inference_steps=num_inference_steps,
            emotion_guidance_scale=emotion_guidance_scale,
            diffusion_strength=diffusion_strength,
            noise_scale=noise_scale,
        )

    @property
    def is_learned(self) -> bool:
        """Whether sentences are spoken by the learned acoustic model (else by the renderer)."""
        return getattr(self, "acoustic_model", None) is not None

    @classmethod
    def from_default(cls, **kwargs) -> EmotionalTTSPipeline:
        """The embedded default built in code (the same as `pipelines/tts-default`).

        Its vocoder runs CheapTrick with a 65 Hz window floor (FFT 1024 at 22.05 kHz) and D4C on
        every 2nd frame: analysis plus synthesis take about half the time of WORLD's defaults,
        which keeps emotional TTS within 2x the plain voice (benchmarks/speech).
        """
        vocoder = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2)
        return cls(voice=PiperVoice(), vocoder=vocoder, renderer=EmotionRenderer(), **kwargs)

    # ----- 1. check inputs ----------------------------------------------------------------------
    def check_inputs(self, text: str | Sequence[str], intensity: float | None) -> list[str]:
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise EmogenError("text is an empty list; give a string or a list of strings")
        limit = self.config.max_characters
        for item in texts:
            if not isinstance(item, str):
                raise EmogenError(f"text must be a string, got {type(item).__name__}")
            if not item.strip():
                raise EmogenError("text is empty or only whitespace; give something to say")
            if len(item) > limit:
                raise EmogenError(
                    f"text has {len(item)} characters, over the limit of {limit}; split it or "
                    "raise the pipeline's max_characters"
                )
        check_intensity(intensity)
        for item in texts:  # phonemize now: unspeakable text fails before any audio is made
            for sentence in split_sentences(item):
                self.voice.phonemize(sentence)
        return texts

    # ----- 2. encode the condition: one emotion (or curve) per sentence ---------------------------
    def sentence_emotions(
        self,
        sentences: list[str],
        emotion: EmotionInput,
        intensity: float | None,
    ) -> list[Emotion | EmotionCurve]:
        """The emotion of each sentence; a curve over seconds stays a curve (rendered by time)."""
        if isinstance(emotion, str) and emotion.strip().lower() == AUTO:
            from ..emotion.text import recognize_texts

            found = [result.emotion for result in recognize_texts(sentences)]
        elif isinstance(emotion, (list, tuple)):
            if len(emotion) != len(sentences):
                raise EmogenError(
                    f"got {len(emotion)} emotions for {len(sentences)} sentences "
                    f"({sentences!r}); give one per sentence, one for all, or a curve"
                )
            found = [as_emotion(e) for e in emotion]
        else:
            curve = as_curve(emotion)
            if curve.unit == "sentences":
                found = curve.for_sentences(len(sentences))
            elif len(curve) == 1:
                found = [curve.keyframes[0].emotion] * len(sentences)
            else:
                if intensity is not None:
                    curve = curve.with_intensity(float(intensity))
                return [curve] * len(sentences)
        if intensity is not None:
            found = [e.with_intensity(float(intensity)) for e in found]
        return found

    # ----- 3-5. synthesise, render, join --------------------------------------------------------
    def neutral_speech(self, sentence: str, seed: int | np.random.Generator | None) -> np.ndarray:
        """The voice's neutral `(T,)` float32 speech of one sentence at `loudness_db` RMS (the
        same level for every sentence, with headroom for louder emotions)."""
        return self._neutral(sentence, seed).audio

    def _neutral(self, sentence: str, seed: int | np.random.Generator | None) -> VoiceOutput:
        spoken = self.voice.synthesize(sentence, seed=seed)
        audio = spoken.audio
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if rms > 0:
            audio = (audio * (10 ** (self.config.loudness_db / 20) / rms)).astype(np.float32)
        return dataclasses.replace(spoken, audio=audio)

    def _speak(
        self,
        sentence: str,
        emotion: Emotion | EmotionCurve,
        offset_s: float,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, list[PhonemeTiming] | None]:
        spoken = self._neutral(sentence, seed=int(rng.integers(2**31)))
        rate = self.voice.sample_rate
        # Neutral goes through the same analysis/synthesis, so every emotion shares one voice path.
        rendered = self.renderer.render(
            spoken.audio, rate, emotion, vocoder=self.vocoder, time_offset=offset_s, seed=rng
        )
        if spoken.alignment is None:
            return rendered.audio, None
        spans = [[timing.start, timing.end] for timing in spoken.alignment]
        moved = rendered.output_times(np.array(spans), len(spoken.audio) / rate)
        alignment = [
            PhonemeTiming(timing.phoneme, float(start), float(end))
            for timing, (start, end) in zip(spoken.alignment, moved)
        ]
        return rendered.audio, alignment

    def _speak_learned(
        self,
        sentence: str,
        emotion: Emotion | EmotionCurve,
        offset_s: float,
        rng: np.random.Generator,
        num_inference_steps: int,
        emotion_guidance_scale: float,
    ) -> tuple[np.ndarray, list[PhonemeTiming]]:
        """One sentence by the learned path: phonemes -> frames -> WORLD -> audio, and when
        each phoneme is spoken (from the predicted durations)."""
        phonemes = self.voice.phonemize(sentence)
        period_ms = self.frame_coder.config.frame_period_ms
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        generated = generate_frames(
            self.acoustic_model,
            self.denoiser,
            self.emotion_encoder,
            self.scheduler,
            phoneme_tokens(self.voice, phonemes),
            emotion,
            frame_period_ms=period_ms,
            time_offset_s=offset_s,
            num_inference_steps=num_inference_steps,
            emotion_guidance_scale=emotion_guidance_scale,
            generator=generator,
            strength=self.config.diffusion_strength,
            noise_scale=self.config.noise_scale,
        )
        frames = self.frame_normalizer.denormalize(
            generated.frames.float().cpu().numpy(), clip=SAMPLE_CLIP
        )
        audio = self.vocoder.synthesize(self.frame_coder.decode(frames)).astype(np.float32)
        # The model learnt the corpus's levels (the emotion's loudness included); only guard
        # the peak, as the renderer does.
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > PEAK:
            audio = audio * (PEAK / peak)
        ends = np.cumsum(generated.durations) * period_ms / 1000.0
        starts = ends - generated.durations * period_ms / 1000.0
        alignment = [
            PhonemeTiming(char, float(start), float(end))
            for char, start, end in zip(phonemes, starts, ends)
        ]
        return audio, alignment

    def _pause(self, emotion: Emotion | EmotionCurve, sample_rate: int) -> np.ndarray:
        if self.renderer is None:  # the learned path: the configured pause
            return np.zeros(round(self.config.sentence_pause_s * sample_rate), np.float32)
        scale = 2.0 ** self.renderer.controls(final_emotion(emotion))["pause_log2"]
        return np.zeros(round(self.config.sentence_pause_s * scale * sample_rate), np.float32)

    def stream(
        self,
        text: str,
        emotion: EmotionInput = "neutral",
        intensity: float | None = None,
        generator: int | torch.Generator | np.random.Generator | None = None,
        emotion_guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
    ) -> Iterator[SpeechChunk]:
        """Yield the speech sentence by sentence (each chunk ends with its pause).

        A curve over seconds is read on the output's time line: each sentence starts where the
        previous one (with its pause) ended; inside a sentence the rule-based path reads it on
        the neutral speech's time, the learned path on the predicted durations' time.
        `SpeechChunk.emotion` is the emotion at the end of the sentence.
        `emotion_guidance_scale` and `num_inference_steps` as in `__call__`.
        """
        if not isinstance(text, str):
            raise EmogenError(f"stream speaks one string, got {type(text).__name__}")
        (text,) = self.check_inputs(text, intensity)
        scale, steps = self._sampling_options(emotion_guidance_scale, num_inference_steps)
        sentences = split_sentences(text)
        emotions = self.sentence_emotions(sentences, emotion, intensity)
        rng = np.random.default_rng(resolve_seed(generator))
        rate = self.voice.sample_rate
        offset = 0.0
        for index, (sentence, sentence_emotion) in enumerate(zip(sentences, emotions)):
            if self.is_learned:
                audio, alignment = self._speak_learned(
                    sentence, sentence_emotion, offset, rng, steps, scale
                )
            else:
                audio, alignment = self._speak(sentence, sentence_emotion, offset, rng)
            if index < len(sentences) - 1:
                audio = np.concatenate([audio, self._pause(sentence_emotion, rate)])
            offset += len(audio) / rate
            emotion_used = final_emotion(sentence_emotion)
            yield SpeechChunk(audio, rate, sentence, emotion_used, index, alignment)

    def _sampling_options(
        self, emotion_guidance_scale: float | None, num_inference_steps: int | None
    ) -> tuple[float, int]:
        """The learned path's guidance scale and steps (None: the pipeline config's), checked."""
        scale = self.config.emotion_guidance_scale
        scale = scale if emotion_guidance_scale is None else emotion_guidance_scale
        steps = (
            self.config.num_inference_steps if num_inference_steps is None else num_inference_steps
        )
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale < 1e6:
            raise EmogenError(f"emotion_guidance_scale must be a number >= 0, got {scale!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise EmogenError(f"num_inference_steps must be an integer >= 1, got {steps!r}")
        return float(scale), steps

    @torch.no_grad()
    def __call__(
        self,
        text: str | list[str],
        emotion: EmotionInput = "neutral",
        intensity: float | None = None,
        emotion_guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
        generator: int | torch.Generator | np.random.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> EmotionalSpeechOutput | tuple:
        """Speak `text` with `emotion`.

        Args:
            text: a string or a list of strings (a batch); long text is split into sentences.
            emotion: an Emotion or any string form (`"angry:0.8"`, `"0.6 happy + 0.4 surprised"`,
                `"v=0.2 a=-0.4 d=0.1"`), a list with one emotion per sentence, an EmotionCurve
                over sentences (`"happy@#0 -> sad@#2"`) or over seconds of the neutral
                rendering (`"happy@0 -> angry@2.5"`), or `"auto"`: recognised from each
                sentence's text.
            intensity: replaces every emotion's intensity, in [0, 1].
            emotion_guidance_scale: the learned path's classifier-free guidance on the
                emotion (>= 0: 0 ignores it, 1 is the plain model, > 1 exaggerates it);
                None: the pipeline config's. The rule-based renderer ignores it.
            num_inference_steps: the learned path's denoising steps (None: the config's);
                ignored by the rule-based renderer.
            generator: seed (int or torch/numpy generator) of the voice's variation and the
                renderer's jitter, or of the learned path's diffusion noise; the same seed
                gives the same audio.
            output_type: "np" (float32 numpy) or "pt" (torch tensors).
            return_dict: return an `EmotionalSpeechOutput` instead of a tuple.

        Returns:
            `EmotionalSpeechOutput` (or `(audios, sample_rate)`), echoing the emotions used.
        """
        # 1. check inputs
        texts = self.check_inputs(text, intensity)
        check_output_type(output_type)
        self._sampling_options(emotion_guidance_scale, num_inference_steps)
        if not self.is_learned and (
            emotion_guidance_scale is not None or num_inference_steps is not None
        ):
            logger.info(
                "the rule-based renderer ignores emotion_guidance_scale/num_inference_steps"
            )
        seed = resolve_seed(generator)
        audios, used, spoken, starts, alignments = [], [], [], [], []
        for item in texts:
            # 2. encode the condition; 3-5. synthesise, render and join each sentence. Every item
            # starts from the same seed, so a batch equals its items spoken one by one.
            chunks = list(
                tqdm(
                    self.stream(
                        item,
                        emotion,
                        intensity,
                        generator=seed,
                        emotion_guidance_scale=emotion_guidance_scale,
                        num_inference_steps=num_inference_steps,
                    ),
                    desc="sentences",
                    disable=len(item) < 400,
                    leave=False,
                )
            )
            audios.append(np.concatenate([c.audio for c in chunks]).astype(np.float32))
            used.append([c.emotion for c in chunks])
            spoken.append([c.sentence for c in chunks])
            starts.append(_chunk_starts(chunks))
            alignments.append(_joined_alignment(chunks, starts[-1]))
        # 6. post-process
        audios = [to_output(a, output_type) for a in audios]
        if not return_dict:
            return audios, self.voice.sample_rate
        return EmotionalSpeechOutput(
            audios, self.voice.sample_rate, used, spoken, None, starts, alignments
        )


def _chunk_starts(chunks: Sequence[SpeechChunk]) -> list[float]:
    lengths = [len(chunk.audio) / chunk.sample_rate for chunk in chunks]
    return [float(x) for x in np.concatenate([[0.0], np.cumsum(lengths)[:-1]])] if chunks else []


def _joined_alignment(
    chunks: Sequence[SpeechChunk], starts: Sequence[float]
) -> list[PhonemeTiming] | None:
    # Each chunk's phoneme timing moved by the chunk's start, over the whole waveform.
    if any(chunk.alignment is None for chunk in chunks):
        return None
    return [
        PhonemeTiming(timing.phoneme, timing.start + start, timing.end + start)
        for chunk, start in zip(chunks, starts)
        for timing in chunk.alignment
    ]
