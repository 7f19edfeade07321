"""`CodecLMTTSPipeline`: emotional TTS by a codec language model (DESIGN.md, pipeline 1b)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from ..emotion import Emotion, EmotionCurve
from ..emotion.encoder import EmotionEncoder
from ..emotion.text import split_sentences
from ..errors import EmogenError
from ..speech.acoustic import emotion_embedding
from ..speech.codec import AudioCodec
from ..speech.codec_lm import CodecLanguageModel
from ..speech.diffusion_tts import phoneme_tokens
from ..speech.estimator import SpeechEmotionEstimator
from ..speech.voice import PiperVoice
from .tts import PEAK, EmotionalSpeechOutput, EmotionalTTSPipeline, SpeechChunk, _chunk_starts
from .utils import EmotionInput, check_output_type, resolve_seed, to_output

__all__ = ["CodecLMTTSPipeline", "verifier_score"]

logger = logging.getLogger(__name__)

# Frames generated at most per phoneme character (50 frames a second: 0.4 s), so a model that
# never says END still stops.
MAX_FRAMES_PER_PHONEME = 20
# Frames the phoneme pointer may stay on one phoneme before it is moved on (0.6 s). The longest
# phoneme of tts-default's neutral, sad, disgusted and calm renderings of 30 sentences lasted 13
# frames (a sentence-final "." in sad speech); without the limit, two of 30 disgusted sentences
# held one phoneme until the MAX_FRAMES_PER_PHONEME limit (23.6 s of audio each; 2026-11-23).
MAX_PHONEME_FRAMES = 30

# Weight of the verifier's emotion distance beside the word error rate. benchmarks/speech/
# tune_verifier.py (4 candidates of 30 tuning sentences x 8 emotions, 2026-11-23; WER as Whisper
# hears it): at 1 the distance outweighed the words (WER 13.9 % neutral / 16.1 % emotional); at
# 0.1 one word in ten outweighs a VAD distance of 1, giving 10.4 / 13.1 % (Whisper alone: 10.4 /
# 13.0 %) and a mean distance of 0.59 (0.69 by Whisper alone, 0.77 with no choice).
# PocketSphinx, which took no part in the choice, hears a far smaller gain
# (benchmarks/speech/RESULTS_listeners.md).
VERIFIER_EMOTION_WEIGHT = 0.1


class CodecLMTTSPipeline(EmotionalTTSPipeline):
    """Emotional TTS by a codec language model (the UDDETTS / Llasa family).

    Each sentence's phonemes and emotion go to `language_model` (`CodecLanguageModel`), which
    samples the codec's tokens frame by frame; `codec` turns them into audio. All sentences of a
    call (and all best-of-N candidates) are generated in one batch.

    Inference-time scaling as in Llasa (Ye et al. 2025): with `best_of` N > 1 each sentence is
    sampled N times and a verifier keeps the candidate with the best score: minus the word error
    rate of Whisper's transcript, minus `VERIFIER_EMOTION_WEIGHT` times the distance between the
    emotion the prosody estimator hears (`estimator`, the voice conversion's) and the one asked
    for, in VAD. The tuned sampling varies enough between candidates.

    Components:
        voice: the `PiperVoice` whose phonemizer and phoneme ids the model reads.
        codec: an `AudioCodec` (`WorldFrameCodec`, or `EncodecCodec` with a model trained on it).
        language_model: the `CodecLanguageModel`.
        emotion_encoder: the shared `EmotionEncoder` the model was trained with.
        estimator: optional `SpeechEmotionEstimator` for the best-of-N verifier.

    Config: `emotion_guidance_scale`, `temperature`, `top_k`, `top_p`, `best_of` and
    `phoneme_prior_scale` (the defaults of `__call__`), `max_characters`, `sentence_pause_s`.

    Example:
        >>> pipe = load_pipeline("tts-codec-lm")
        >>> out = pipe("I can't believe we won!", emotion="happy", generator=0, best_of=4)
    """

    _optional_components = ["estimator"]  # noqa: RUF012 (diffusers reads a plain class list)

    def __init__(
        self,
        voice: PiperVoice,
        codec: AudioCodec,
        language_model: CodecLanguageModel,
        emotion_encoder: EmotionEncoder,
        estimator: SpeechEmotionEstimator | None = None,
        max_characters: int = 5000,
        sentence_pause_s: float = 0.3,
        emotion_guidance_scale: float = 1.5,
        temperature: float = 0.8,
        top_k: int | None = 50,
        top_p: float | None = None,
        best_of: int = 1,
        phoneme_prior_scale: float = 0.0,
    ):
        DiffusionPipeline.__init__(self)
        if codec.num_codebooks != language_model.config.num_codebooks or (
            codec.codebook_size != language_model.config.codebook_size
        ):
            raise EmogenError(
                f"the codec has {codec.num_codebooks} codebooks of {codec.codebook_size}; the "
                f"language model was built for {language_model.config.num_codebooks} of "
                f"{language_model.config.codebook_size}"
            )
        self.register_modules(
            voice=voice,
            codec=codec,
            language_model=language_model,
            emotion_encoder=emotion_encoder,
            estimator=estimator,
        )
        self.register_to_config(
            max_characters=max_characters,
            sentence_pause_s=sentence_pause_s,
            emotion_guidance_scale=emotion_guidance_scale,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            best_of=best_of,
            phoneme_prior_scale=phoneme_prior_scale,
        )

    renderer = None  # no rule-based path: sentence pauses are the configured ones

    @property
    def is_learned(self) -> bool:
        return True

    def stream(self, text: str, emotion: EmotionInput = "neutral", **kwargs: Any):
        """Sentence by sentence, as `EmotionalTTSPipeline.stream`; the sentences are generated
        together in one batch first, then yielded one at a time."""
        out = self(text, emotion, **kwargs)
        rate = out.sample_rate
        starts = [*out.sentence_starts[0], len(out.audios[0]) / rate]
        for index, sentence in enumerate(out.sentences[0]):
            audio = out.audios[0][round(starts[index] * rate) : round(starts[index + 1] * rate)]
            yield SpeechChunk(audio, rate, sentence, out.emotions[0][index], index, None)

    @torch.no_grad()
    def __call__(
        self,
        text: str | list[str],
        emotion: EmotionInput = "neutral",
        intensity: float | None = None,
        emotion_guidance_scale: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        best_of: int | None = None,
        phoneme_prior_scale: float | None = None,
        generator: int | torch.Generator | np.random.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> EmotionalSpeechOutput | tuple:
        """Speak `text` with `emotion`.

        Args:
            text: a string or a list of strings (a batch); each is split into sentences.
            emotion: as `EmotionalTTSPipeline` takes it (one emotion, one per sentence, a
                sentence curve, or "auto"); a curve over seconds gives each sentence the
                curve's emotion at the sentence's start, estimated at 80 ms a phoneme.
            intensity: replaces every emotion's intensity, in [0, 1].
            emotion_guidance_scale: classifier-free guidance on the emotion (1: none).
            temperature, top_k, top_p: sampling (None: the config's).
            best_of: candidates per sentence for the verifier (None: the config's; 1: none).
            phoneme_prior_scale: weight of the model's phoneme prior on the first codec level
                (`CodecLanguageModel.generate`; None: the config's; 0: none).
            generator: seed of the sampling.
            output_type: "np" or "pt".
            return_dict: return an `EmotionalSpeechOutput` instead of a tuple.

        Returns:
            `EmotionalSpeechOutput` (no phoneme alignments: the model does not report them).
        """
        # 1. check inputs
        texts = self.check_inputs(text, intensity)
        check_output_type(output_type)
        config = self.config
        scale = (
            config.emotion_guidance_scale
            if emotion_guidance_scale is None
            else emotion_guidance_scale
        )
        temperature = config.temperature if temperature is None else temperature
        top_k = config.top_k if top_k is None else top_k
        top_p = config.top_p if top_p is None else top_p
        best_of = config.best_of if best_of is None else best_of
        prior_scale = (
            config.phoneme_prior_scale if phoneme_prior_scale is None else phoneme_prior_scale
        )
        if isinstance(best_of, bool) or not isinstance(best_of, int) or best_of < 1:
            raise EmogenError(f"best_of must be an integer >= 1, got {best_of!r}")
        if best_of > 1 and getattr(self, "estimator", None) is None:
            raise EmogenError("best_of > 1 needs the pipeline's estimator (the verifier)")
        if best_of > 1 and top_k == 1:
            raise EmogenError(
                "best_of > 1 needs sampling: with top_k 1 (greedy) every candidate is the same; "
                "give top_k > 1 (the shipped tts-codec-lm samples at top_k 5)"
            )
        seed = resolve_seed(generator)
        torch_generator = torch.Generator().manual_seed(0 if seed is None else seed)

        # 2. encode the condition: sentences, their phonemes (once each) and emotions
        spoken, used, phonemes = [], [], []
        for item in texts:
            sentences = split_sentences(item)
            sounds = [self.voice.phonemize(s) for s in sentences]
            # A curve over seconds is read at each sentence's start, estimated at 80 ms a
            # phoneme plus the pause (the model speaks a sentence with one emotion).
            starts = np.cumsum([0.0] + [0.08 * len(p) + config.sentence_pause_s for p in sounds])
            emotions = [
                e.at(float(starts[index])) if isinstance(e, EmotionCurve) else e
                for index, e in enumerate(self.sentence_emotions(sentences, emotion, intensity))
            ]
            spoken.append(sentences)
            used.append(emotions)
            phonemes += sounds
        flat = [e for emotions in used for e in emotions]
        tokens = [
            torch.from_numpy(phoneme_tokens(self.voice, p))
            for p in phonemes
            for _ in range(best_of)
        ]
        emotions = [e for e in flat for _ in range(best_of)]
        encoder = self.emotion_encoder
        condition = emotion_embedding(encoder, emotions)
        null = encoder.null(len(emotions)).pooled

        # 3. generate every sentence and candidate in one batch
        max_frames = MAX_FRAMES_PER_PHONEME * max(len(t) for t in tokens)
        # a codec that reads phonemes is told the one the pointer was on for each frame
        reads = bool(getattr(self.codec, "reads_phonemes", False))
        generated = self.language_model.generate(
            tokens,
            condition,
            null,
            guidance_scale=float(scale),
            temperature=float(temperature),
            top_k=top_k,
            top_p=top_p,
            max_frames=max_frames,
            generator=torch_generator,
            phoneme_prior_scale=float(prior_scale),
            max_phoneme_frames=MAX_PHONEME_FRAMES,
            return_pointers=reads,
        )
        codes, pointers = generated if reads else (generated, None)
        told = None  # row r speaks phonemes[r // best_of]
        if pointers is not None:
            told = [
                "".join(phonemes[row // best_of][i] for i in row_pointers.tolist())
                for row, row_pointers in enumerate(pointers)
            ]

        def decode(row: int) -> np.ndarray:
            if told is None:
                return self.codec.decode(codes[row])
            return self.codec.decode(codes[row], phonemes=told[row])

        # 4. decode, verify, join
        rate = self.codec.sample_rate
        audios, starts = [], []
        position = 0
        for sentences, emotions_used in zip(spoken, used):
            chunks = []
            for index, (sentence, sentence_emotion) in enumerate(zip(sentences, emotions_used)):
                candidates = [decode(row) for row in range(position, position + best_of)]
                position += best_of
                audio = candidates[0]
                if best_of > 1:
                    scores = [self.verify(a, rate, sentence, sentence_emotion) for a in candidates]
                    audio = candidates[int(np.argmax(scores))]
                peak = float(np.max(np.abs(audio))) if audio.size else 0.0
                if peak > PEAK:
                    audio = audio * (PEAK / peak)
                if index < len(sentences) - 1:
                    pause = np.zeros(round(self.config.sentence_pause_s * rate), np.float32)
                    audio = np.concatenate([audio, pause])
                chunks.append(
                    SpeechChunk(audio.astype(np.float32), rate, sentence, sentence_emotion, index)
                )
            audios.append(np.concatenate([c.audio for c in chunks]))
            starts.append(_chunk_starts(chunks))
        audios = [to_output(a, output_type) for a in audios]
        if not return_dict:
            return audios, rate
        return EmotionalSpeechOutput(audios, rate, used, spoken, None, starts, [None] * len(audios))

    def verify(self, audio: np.ndarray, sample_rate: int, text: str, emotion: Emotion) -> float:
        """The best-of-N verifier's score of one candidate (`verifier_score`; higher is
        better)."""
        from ..eval.speech import word_error_rate

        transcript, distance = self.verifier_terms(audio, sample_rate, emotion)
        return verifier_score(word_error_rate(text, transcript), distance)

    def verifier_terms(
        self, audio: np.ndarray, sample_rate: int, emotion: Emotion
    ) -> tuple[str, float]:
        """What the verifier hears in one candidate: Whisper's transcript, and the VAD distance
        between the estimator's emotion and `emotion` (2 sqrt 3, the most, when it hears no
        voiced speech)."""
        from ..eval.speech import transcribe

        transcript = transcribe(audio, sample_rate)
        try:
            heard = self.estimator.estimate(audio, sample_rate)
            distance = float(np.linalg.norm(np.subtract(heard.vad, emotion.vad)))
        except EmogenError:  # no voiced speech to hear an emotion in: the worst distance
            distance = 2 * np.sqrt(3)
        return transcript, distance


def verifier_score(
    error: float, distance: float, emotion_weight: float = VERIFIER_EMOTION_WEIGHT
) -> float:
    """The best-of-N verifier's score (higher is better): minus the word error rate (capped at
    1), minus `emotion_weight` times the VAD distance to the emotion asked for."""
    return -min(error, 1.0) - emotion_weight * distance
