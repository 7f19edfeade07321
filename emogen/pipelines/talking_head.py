"""`TalkingHeadPipeline`: a portrait and speech -> frames of that face speaking with an emotion."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ..emotion import EmotionCurve, EmotionLike, as_curve
from ..errors import EmogenError
from ..face.action_units import action_unit_track
from ..face.landmarks import FaceLandmarkDetector, FaceLandmarks, load_portrait
from ..face.motion import blink_track, frame_loudness, gaze_track, head_track
from ..face.renderer import FaceRenderer
from ..face.rig import FaceRig, MotionTrack
from ..face.video import write_video
from ..face.visemes import MOUTH_PARAMETERS, VISEMES, mouth_track
from ..speech.audio import load_audio
from ..speech.voice import PhonemeTiming
from .utils import check_intensity, resolve_seed

__all__ = ["RenderedFrames", "TalkingHeadOutput", "TalkingHeadPipeline"]

logger = logging.getLogger(__name__)

MOUTH_SOURCES = ("auto", "alignment", "learned", "rules")
VOCAL_EFFORT = 0.4  # the share of the jaw's opening that follows the frame's loudness
ARTICULATION = 0.7  # the jaw's opening at neutral arousal, against fully aroused speech


class RenderedFrames(Sequence[np.ndarray]):
    """The clip's frames, rendered when read (so a long clip streams to the encoder in flat
    memory): `len`, indexing and iteration give `(H, W, 3)` uint8 RGB frames."""

    def __init__(self, rig: FaceRig, renderer: FaceRenderer, motion: MotionTrack):
        self._rig, self._renderer, self._motion = rig, renderer, motion

    def __len__(self) -> int:
        return len(self._motion)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if not isinstance(index, (int, np.integer)):
            raise TypeError("frames are read one at a time: frames[i], or iterate")
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} of a clip of {len(self)}")
        index = int(index) % len(self)
        displacement = self._rig.displacement(self._motion, index)
        return self._renderer.render(displacement, self._rig.teeth(self._motion, index))

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def to_array(self) -> np.ndarray:
        """All frames, `(T, H, W, 3)` uint8 (short clips: this holds them all in memory)."""
        return np.stack(list(self))


@dataclass
class TalkingHeadOutput(BaseOutput):
    """The talking head's clip.

    Args:
        frames: `RenderedFrames` (T frames of `(H, W, 3)` uint8 RGB, rendered when read).
        fps: frames per second.
        audio: `(N,)` float32 mono speech.
        sample_rate: the audio's rate in Hz.
        motion: the `MotionTrack` the frames show (AUs, mouth, blinks, gaze, head).
    """

    frames: RenderedFrames
    fps: float
    audio: np.ndarray
    sample_rate: int
    motion: MotionTrack

    def save(self, path: str | os.PathLike, progress: bool = True) -> Path:
        """Write the clip as an H.264 + AAC MP4 (frames streamed; no partial file on failure)."""
        return write_video(
            path, self.frames, self.fps, self.audio, self.sample_rate, len(self.frames), progress
        )


class TalkingHeadPipeline(DiffusionPipeline):
    """Talking head from one portrait (DESIGN.md, pipeline 3).

    Steps: (1) check inputs and load the portrait and the audio; (2) find the face (MediaPipe
    landmarks, the largest face) and build its expression rig; (3) plan the motion per video
    frame: action units from the emotion (an `EmotionCurve` over seconds), the mouth from the
    speech (phoneme timing when given, else the learned audio-to-motion model, else visemes
    timed by Whisper and the TTS voice), blinks, gaze and head motion driven by arousal and
    loudness; (4) frames are rendered when read (`TalkingHeadOutput.save` streams them to MP4).

    Args:
        detector: the face landmark detector.
        motion_model: the learned audio-to-motion model (None: visemes timed from the audio).
        fps: default frames per second.
        size: default output size: the longer side of the frame in pixels (the portrait keeps
            its framing and aspect ratio).
        max_audio_seconds: the longest audio accepted.
        max_image_size: larger portraits are downscaled to this longer side before analysis.
        seed: default seed of blinks, gaze and head motion (and of the learned model).

    Example:
        >>> pipe = TalkingHeadPipeline.from_pretrained("pipelines/talking-head")
        >>> clip = pipe("portrait.jpg", "speech.wav", emotion="happy@0 -> sad@3")
        >>> clip.save("talk.mp4")
    """

    _optional_components: ClassVar[list[str]] = ["motion_model"]

    def __init__(
        self,
        detector: FaceLandmarkDetector,
        motion_model: Any = None,
        fps: float = 25.0,
        size: int = 512,
        max_audio_seconds: float = 300.0,
        max_image_size: int = 2048,
        seed: int = 0,
    ):
        super().__init__()
        self.register_modules(detector=detector, motion_model=motion_model)
        self.register_to_config(
            fps=fps,
            size=size,
            max_audio_seconds=max_audio_seconds,
            max_image_size=max_image_size,
            seed=seed,
        )

    @classmethod
    def from_default(cls, **kwargs: Any) -> TalkingHeadPipeline:
        """The pipeline built in code without the learned model (visemes timed by rules)."""
        kwargs.setdefault("detector", FaceLandmarkDetector())
        return cls(**kwargs)

    def __call__(
        self,
        portrait: Any,
        audio: Any,
        emotion: EmotionLike | EmotionCurve = "neutral",
        intensity: float | None = None,
        sample_rate: int | None = None,
        alignment: Sequence[PhonemeTiming] | None = None,
        transcript: str | None = None,
        sentence_starts: Sequence[float] | None = None,
        mouth: str = "auto",
        fps: float | None = None,
        size: int | None = None,
        generator: int | None = None,
        return_dict: bool = True,
    ) -> TalkingHeadOutput | tuple:
        """Animate a portrait speaking.

        Args:
            portrait: a path, PIL image or `(H, W, 3)` / `(H, W)` / `(H, W, 4)` array.
            audio: a path or a waveform (see `emogen.speech.audio.load_audio`); at most
                `max_audio_seconds`.
            emotion: an emotion ("happy", "0.6 happy + 0.4 surprised", VAD, ...) or a curve over
                seconds ("happy@0 -> sad@2.5").
            intensity: replaces every emotion's intensity, in [0, 1] (0: a neutral face).
            sample_rate: the rate of an array `audio`.
            alignment: phoneme timing of the audio in seconds (emogen's TTS gives it: the
                `alignment` of each `SpeechChunk`, moved by the chunk's start).
            transcript: what is said, when known (helps timing visemes from the audio).
            sentence_starts: when each sentence starts (seconds), to time an emotion curve over
                sentences such as a dialogue plan (a TTS output's `sentence_starts`).
            mouth: where the mouth comes from: "alignment", "learned" (the motion model),
                "rules" (visemes timed by Whisper) or "auto" (the first available of these).
            fps: frames per second (default the pipeline's; 1-60).
            size: the longer side of the frames in pixels (default the pipeline's; 64-2048).
            generator: seed of blinks, gaze and head motion.
            return_dict: False returns `(frames, fps, audio, sample_rate)`.

        Returns:
            `TalkingHeadOutput`.

        Raises:
            FaceError: not an image, no face, or a face under the detector's minimum size.
            EmogenError: unreadable, silent or too long audio; bad fps, size, emotion or mouth.
        """
        # 1. check inputs
        fps = float(self.config.fps if fps is None else fps)
        if not (math.isfinite(fps) and 1 <= fps <= 60):
            raise EmogenError(f"fps must be between 1 and 60, got {fps}")
        size = int(self.config.size if size is None else size)
        if not 64 <= size <= 2048:
            raise EmogenError(f"size must be between 64 and 2048 pixels, got {size}")
        if mouth not in MOUTH_SOURCES:
            raise EmogenError(f"mouth must be one of {MOUTH_SOURCES}, got {mouth!r}")
        curve = self._curve(emotion, intensity, sentence_starts)
        seed = resolve_seed(generator)
        seed = self.config.seed if seed is None else seed
        image = load_portrait(portrait, max_size=self.config.max_image_size)
        waveform, rate = load_audio(
            audio, max_seconds=self.config.max_audio_seconds, source_sample_rate=sample_rate
        )

        # 2. the face and its rig, at the output size
        face = self.detector.detect_one(image)
        image, face = _resize(image, face, size)
        rig = FaceRig(face)
        renderer = FaceRenderer(image, rig)

        # 3. the motion, frame by frame
        duration = len(waveform) / rate
        times = np.arange(max(1, math.ceil(duration * fps - 1e-9))) / fps
        mouth_motion = self._mouth(waveform, rate, times, curve, alignment, transcript, mouth, seed)
        arousal = curve.vad_track(times)[:, 1]
        loudness = frame_loudness(waveform, rate, times)
        # Vocal effort: louder syllables open the jaw wider (Schulman 1989, "Articulatory
        # dynamics of loud and normal speech"), so the jaw follows the loudness in part.
        jaw = MOUTH_PARAMETERS.index("jaw_open")
        mouth_motion[:, jaw] *= 1 - VOCAL_EFFORT + VOCAL_EFFORT * loudness
        # Aroused speech is hyperarticulated, calm speech less so: the jaw and lips open wider
        # in angry and joyful speech than in neutral and sad (Caldognetto et al. 2004,
        # "Modifications of speech articulatory characteristics in the emotive speech"; Lee et
        # al. 2005, "An articulatory study of emotional speech production").
        mouth_motion[:, jaw] *= np.clip(ARTICULATION + (1 - ARTICULATION) * arousal, 0.4, 1.0)
        rotation, shift = head_track(times, arousal, loudness, seed)
        motion = MotionTrack(
            action_unit_track(curve, times),
            mouth_motion,
            blink_track(times, arousal, seed),
            gaze_track(times, arousal, seed),
            rotation,
            shift,
        )

        # 4. frames, rendered when read
        frames = RenderedFrames(rig, renderer, motion)
        if not return_dict:
            return frames, fps, waveform, rate
        return TalkingHeadOutput(frames, fps, waveform, rate, motion)

    @staticmethod
    def _curve(
        emotion: EmotionLike | EmotionCurve,
        intensity: float | None,
        sentence_starts: Sequence[float] | None,
    ) -> EmotionCurve:
        curve = as_curve(emotion)
        if curve.unit != "seconds":
            if sentence_starts is None:
                raise EmogenError(
                    "the talking head follows curves over seconds ('happy@0 -> sad@2.5'); a "
                    "curve over sentences needs sentence_starts (a TTS output gives them)"
                )
            curve = curve.timed(sentence_starts)
        check_intensity(intensity)
        return curve if intensity is None else curve.with_intensity(float(intensity))

    def _mouth(
        self,
        waveform: np.ndarray,
        rate: int,
        times: np.ndarray,
        curve: EmotionCurve,
        alignment: Sequence[PhonemeTiming] | None,
        transcript: str | None,
        source: str,
        seed: int,
    ) -> np.ndarray:
        if source == "alignment" and alignment is None:
            raise EmogenError("mouth='alignment' needs the phoneme alignment of the audio")
        if source == "learned" and self.motion_model is None:
            raise EmogenError("mouth='learned' needs a pipeline with a motion_model")
        if source == "auto":
            source = (
                "alignment"
                if alignment is not None
                else ("learned" if self.motion_model is not None else "rules")
            )
        if source == "alignment":
            from ..face.audio_timing import rest_in_pauses

            return mouth_track(rest_in_pauses(alignment, waveform, rate), times)
        if source == "learned":
            from ..face.audio_timing import pause_weights

            fps = 1 / (times[1] - times[0]) if len(times) > 1 else 25.0
            track = self.motion_model.predict(
                waveform, rate, curve, fps=fps, num_frames=len(times), generator=seed
            )
            # The model does not know where the speech stops: rest in the audio's pauses.
            rest = np.array(VISEMES["rest"])
            weights = pause_weights(waveform, rate, times)[:, None]
            return track * (1 - weights) + rest * weights
        from ..face.audio_timing import mouth_track_from_audio

        return mouth_track_from_audio(waveform, rate, times, transcript=transcript)


def _resize(image: np.ndarray, face: FaceLandmarks, size: int) -> tuple[np.ndarray, FaceLandmarks]:
    # The whole portrait (its framing kept) scaled so the longer side is `size`; sides even for
    # H.264.
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_width = max(2, round(width * scale / 2) * 2)
    new_height = max(2, round(height * scale / 2) * 2)
    if (new_width, new_height) != (width, height):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        image = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    factors = np.array([new_width / width, new_height / height, new_width / width], np.float32)
    return image, FaceLandmarks(face.points * factors, face.blendshapes, (new_height, new_width))
