"""What each tab of the web demo does when its button is pressed.

Handlers take what the page sends (text, file paths, the emotion string of the controls) and
return what the page shows; they raise `EmogenError` for anything the user can fix, which the app
turns into a message in the page (`gr.Error`). Outputs are files in the app's work folder, pruned
by age (Gradio copies them into its own cache, which `Blocks(delete_cache=...)` prunes).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..emotion import EmotionCurve
from ..errors import EmogenError
from .controls import describe, read_emotion
from .limits import DemoLimits
from .models import PipelineCache
from .plots import pitch_figure, trajectory_figure

logger = logging.getLogger(__name__)

SAMPLE_TEXT = "Hello! I have some news for you."


class OutputFiles:
    """Fresh file paths in one folder; files older than `keep_seconds` are removed as new ones
    are made, so a long-running demo does not fill the disk."""

    def __init__(self, root: Path, keep_seconds: float = 3600.0):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()

    def new(self, stem: str, suffix: str) -> Path:
        self.prune()
        return self.root / f"{stem}-{uuid.uuid4().hex[:10]}{suffix}"

    def prune(self) -> None:
        cutoff = time.time() - self.keep_seconds
        with self._lock:
            for path in self.root.iterdir():
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                except OSError:  # removed meanwhile by another request
                    pass


class DemoHandlers:
    """The tabs' actions, sharing the pipeline cache, the limits and the output folder.

    Args:
        limits: what a request may ask for.
        pipelines: the loaded pipelines (`PIPELINES`, one per process, by default).
        workdir: where outputs and the example assets are written.
    """

    def __init__(self, limits: DemoLimits, pipelines: PipelineCache, workdir: Path):
        self.limits = limits
        self.pipelines = pipelines
        self.outputs = OutputFiles(Path(workdir) / "outputs")

    # ----- checks shared by the tabs --------------------------------------------------------------
    def check_text(self, text: Any, what: str = "text") -> str:
        if not isinstance(text, str) or not text.strip():
            raise EmogenError(f"the {what} is empty: type something first")
        if len(text) > self.limits.max_text_characters:
            raise EmogenError(
                f"the {what} has {len(text)} characters; this demo takes at most "
                f"{self.limits.max_text_characters}"
            )
        return text.strip()

    def check_portrait(self, portrait: Any) -> str:
        from PIL import Image, UnidentifiedImageError

        if portrait is None or (isinstance(portrait, str) and not portrait.strip()):
            raise EmogenError(
                "no portrait: upload a photo with one face (PNG, JPEG or WebP), or click an example"
            )
        path = Path(portrait)
        try:
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
        except (UnidentifiedImageError, OSError):
            raise EmogenError(
                f"the portrait {path.name!r} is not an image; upload a PNG, JPEG or WebP photo"
            ) from None
        if width * height > self.limits.max_portrait_pixels:
            raise EmogenError(
                f"the portrait is {width}x{height} pixels; this demo takes at most "
                f"{self.limits.max_portrait_pixels:,} pixels (width x height)"
            )
        return str(path)

    def load_audio(self, audio: Any) -> tuple[np.ndarray, int]:
        from ..speech.audio import load_audio

        if audio is None:
            raise EmogenError("no audio: upload a recording (wav, flac, ogg, mp3) or record one")
        try:
            return load_audio(audio, max_seconds=self.limits.max_audio_seconds)
        except EmogenError as error:
            name = Path(audio).name if isinstance(audio, str) else "the audio"
            raise EmogenError(f"cannot use {name!r} as audio: {error}") from None

    @staticmethod
    def check_seed(seed: Any) -> int:
        if seed is None:
            return 0
        try:
            value = int(seed)
        except (TypeError, ValueError):
            raise EmogenError(f"the seed must be a whole number >= 0, got {seed!r}") from None
        if value != seed or value < 0:
            raise EmogenError(f"the seed must be a whole number >= 0, got {seed!r}")
        return value

    def check_video(self, size: Any, fps: Any) -> tuple[int, float]:
        try:
            size, fps = int(size), float(fps)
        except (TypeError, ValueError):
            raise EmogenError(f"size and fps must be numbers, got {size!r} and {fps!r}") from None
        if not 64 <= size <= self.limits.max_video_size:
            raise EmogenError(
                f"size must be between 64 and {self.limits.max_video_size} pixels, got {size}"
            )
        if not 1 <= fps <= self.limits.max_fps:
            raise EmogenError(f"fps must be between 1 and {self.limits.max_fps}, got {fps:g}")
        return size, fps

    def save_wav(self, stem: str, audio: np.ndarray, rate: int) -> str:
        from ..speech.audio import save_audio

        return str(save_audio(self.outputs.new(stem, ".wav"), audio, rate))

    # ----- Speech ---------------------------------------------------------------------------------
    def speak(
        self,
        text: str,
        emotion: str,
        voice: str | None = None,
        seed: int = 0,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's idiom)
    ) -> tuple[str, Any, str]:
        """Text + emotion -> speech (wav), its pitch beside the neutral rendering's, and what
        each sentence was spoken with."""
        text = self.check_text(text)
        value = read_emotion(emotion, special=("auto",))
        seed = self.check_seed(seed)
        progress(0.05, desc="loading the TTS")
        with self.pipelines.use("tts-default", voice) as tts:
            progress(0.2, desc="speaking")
            out = tts(text, emotion=value, generator=seed)
            audio, rate = out.audios[0], out.sample_rate
            progress(0.8, desc="pitch contours")
            neutral = _neutral_speech(tts, out.sentences[0], seed)
            emotional_f0 = tts.vocoder.analyze(audio, rate)
            neutral_f0 = tts.vocoder.analyze(neutral, rate)
        figure = pitch_figure(
            [
                ("neutral", neutral_f0.times, neutral_f0.f0),
                ("emotional", emotional_f0.times, emotional_f0.f0),
            ],
            title="pitch: emotional rendering vs the neutral voice",
        )
        lines = [f"{len(audio) / rate:.2f} s at {rate} Hz."]
        for sentence, used in zip(out.sentences[0], out.emotions[0]):
            lines.append(f"- *{sentence}* — {used.label()}")
        return self.save_wav("speech", audio, rate), figure, "\n".join(lines)

    # ----- Voice conversion -----------------------------------------------------------------------
    def convert(
        self,
        audio: str | None,
        emotion: str,
        source_emotion: str = "auto",
        seed: int = 0,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, Any, str]:
        """Speech + target emotion -> the same speech with the target emotion."""
        waveform, rate = self.load_audio(audio)
        value = read_emotion(emotion)
        source = (source_emotion or "auto").strip() or "auto"
        seed = self.check_seed(seed)
        progress(0.1, desc="loading the converter")
        with self.pipelines.use("vc-default") as vc:
            progress(0.3, desc="converting")
            out = vc(
                waveform,
                sample_rate=rate,
                emotion=value,
                source_emotion=None if source.lower() == "auto" else source,
                generator=seed,
            )
            converted = out.audios[0]
            before = vc.vocoder.analyze(waveform, rate)
            after = vc.vocoder.analyze(converted, out.sample_rate)
        figure = pitch_figure(
            [("input", before.times, before.f0), ("converted", after.times, after.f0)],
            title="pitch: input vs converted",
        )
        taken_out = out.source_emotions[0] if out.source_emotions else None
        info = (
            f"{len(converted) / out.sample_rate:.2f} s at {out.sample_rate} Hz. "
            f"Taken out (the input's emotion, {'estimated' if source == 'auto' else 'given'}): "
            f"{taken_out.label() if taken_out else 'none'}. Added: {describe(value)}"
        )
        return self.save_wav("converted", converted, out.sample_rate), figure, info

    # ----- Talking head ---------------------------------------------------------------------------
    def talk(
        self,
        portrait: str | None,
        audio: str | None,
        text: str,
        emotion: str,
        size: int = 256,
        fps: float = 12,
        seed: int = 0,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, str]:
        """Portrait + speech (uploaded, or `text` spoken by the TTS) + emotion -> MP4."""
        portrait = self.check_portrait(portrait)
        value = read_emotion(emotion)
        size, fps = self.check_video(size, fps)
        seed = self.check_seed(seed)
        speak = isinstance(text, str) and bool(text.strip())
        if speak and audio is not None:
            raise EmogenError(
                "give either an audio file or a text to speak, not both (clear one of them)"
            )
        extra: dict[str, Any] = {}
        if speak:
            text = self.check_text(text)
            progress(0.05, desc="speaking the text")
            with self.pipelines.use("tts-default") as tts:
                speech = tts(text, emotion=value, generator=seed)
            waveform, rate = speech.audios[0], speech.sample_rate
            extra = {
                "alignment": speech.alignments[0],
                "transcript": text,
                "sentence_starts": speech.sentence_starts[0],
            }
        else:
            if audio is None:
                raise EmogenError("no speech: upload an audio file or type a text to speak")
            if isinstance(value, EmotionCurve) and value.unit == "sentences":
                raise EmogenError(
                    "a curve over sentences needs a text to speak (sentence starts come from "
                    "the TTS); for uploaded audio use positions in seconds"
                )
            waveform, rate = self.load_audio(audio)
        progress(0.3, desc="animating the face")
        with self.pipelines.use("talking-head") as head:
            clip = head(
                portrait,
                waveform,
                emotion=value,
                sample_rate=rate,
                fps=fps,
                size=size,
                generator=seed,
                **extra,
            )
            path = clip.save(self.outputs.new("talk", ".mp4"))
        info = (
            f"{len(clip.frames)} frames at {fps:g} fps, {len(waveform) / rate:.2f} s. "
            f"Emotion: {describe(value)}"
        )
        return str(path), info

    # ----- Chat -----------------------------------------------------------------------------------
    def chat(
        self,
        message: str,
        personality: str = "warm",
        speak: bool = False,
        emotion: str = "plan",
        seed: int = 0,
        conversation: Any = None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[list[dict], str, Any, str | None, Any, str]:
        """One user message -> the reply, the conversation's turns and emotion trajectory, and
        (with `speak`) the reply spoken with the plan's emotion or the controls'."""
        from ..dialogue.conversation import Conversation

        message = self.check_text(message, "message")
        value = read_emotion(emotion, special=("plan",))
        seed = self.check_seed(seed)
        conversation = conversation if conversation is not None else Conversation()
        self._check_turns(conversation)
        progress(0.1, desc="replying")
        with self.pipelines.use("dialogue") as dialogue:
            turn = dialogue(message, conversation=conversation, personality=personality, seed=seed)
        audio = None
        if speak:
            progress(0.5, desc="speaking the reply")
            with self.pipelines.use("tts-default") as tts:
                speech = tts(
                    turn.text, emotion=turn.plan if value == "plan" else value, generator=seed
                )
            audio = self.save_wav("reply", speech.audios[0], speech.sample_rate)
        return (
            chat_messages(conversation),
            turn_table(conversation),
            conversation_figure(conversation),
            audio,
            conversation,
            "",
        )

    @staticmethod
    def new_conversation() -> tuple[list, str, None, None, Any]:
        from ..dialogue.conversation import Conversation

        return [], "", None, None, Conversation()

    def _check_turns(self, conversation: Any) -> None:
        if len(conversation.by("assistant")) >= self.limits.max_chat_turns:
            raise EmogenError(
                f"this conversation has reached {self.limits.max_chat_turns} replies, the "
                "demo's limit; press 'New conversation' to start again"
            )

    # ----- Avatar ---------------------------------------------------------------------------------
    def avatar(
        self,
        message: str,
        portrait: str | None,
        personality: str = "warm",
        emotion: str = "plan",
        size: int = 256,
        fps: float = 12,
        seed: int = 0,
        conversation: Any = None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, str, list[dict], Any, str]:
        """A message -> the avatar's reply spoken by the portrait (MP4), with the emotion plan
        of the dialogue or the controls' emotion for voice and face."""
        from ..dialogue.conversation import Conversation

        message = self.check_text(message, "message")
        portrait = self.check_portrait(portrait)
        value = read_emotion(emotion, special=("plan",))
        size, fps = self.check_video(size, fps)
        seed = self.check_seed(seed)
        conversation = conversation if conversation is not None else Conversation()
        self._check_turns(conversation)
        progress(0.05, desc="loading the avatar")
        with self.pipelines.use("avatar") as pipe:
            progress(0.1, desc="replying, speaking and animating")
            answer = pipe(
                message,
                portrait=portrait,
                conversation=conversation,
                personality=personality,
                emotion=None if value == "plan" else value,
                fps=fps,
                size=size,
                generator=seed,
            )
            turn, video = answer.turn, answer.video
            path = video.save(self.outputs.new("avatar", ".mp4"))
        voice = "the dialogue's plan" if value == "plan" else describe(value)
        info = (
            f"**Reply** ({turn.strategy}): {turn.text}\n\n"
            f"User: {turn.user_emotion.label()} · reply: {turn.response_emotion.label()} · "
            f"voice and face: {voice}"
        )
        return str(path), info, chat_messages(conversation), conversation, ""


def _neutral_speech(tts: Any, sentences: list[str], seed: int) -> np.ndarray:
    # The voice's neutral speech of the same sentences, with the pipeline's pause between them
    # (the first sentence gets the seed the pipeline gave it, so the two align there).
    rng = np.random.default_rng(seed)
    pause = np.zeros(round(tts.config.sentence_pause_s * tts.voice.sample_rate), np.float32)
    parts = []
    for index, sentence in enumerate(sentences):
        if index:
            parts.append(pause)
        parts.append(tts.neutral_speech(sentence, int(rng.integers(2**31))))
    return np.concatenate(parts)


def chat_messages(conversation: Any) -> list[dict]:
    """The conversation as Gradio chatbot messages."""
    return [{"role": m.role, "content": m.text} for m in conversation]


def turn_table(conversation: Any) -> str:
    """Markdown: per turn, the user's recognised emotion (and its cue words), the strategy and
    the reply's planned emotion."""
    rows = [
        "| turn | user's emotion | cues | strategy | reply's emotion |",
        "|---|---|---|---|---|",
    ]
    user = None
    turn = 0
    for message in conversation:
        if message.role == "user":
            user = message
            continue
        turn += 1
        felt = user.emotion.label() if user is not None and user.emotion else "-"
        cues = ", ".join(user.cues) if user is not None and user.cues else "-"
        reply = message.emotion.label() if message.emotion else "-"
        rows.append(f"| {turn} | {felt} | {cues} | {message.strategy or '-'} | {reply} |")
    return "\n".join(rows) if turn else ""


def conversation_figure(conversation: Any) -> Any:
    users = [m.emotion for m in conversation if m.role == "user"]
    agents = [m.emotion for m in conversation if m.role == "assistant"]
    return trajectory_figure(users, agents)


def make_workdir() -> Path:
    """A fresh folder for one app's outputs and example assets."""
    return Path(tempfile.mkdtemp(prefix="emogen-demo-"))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
