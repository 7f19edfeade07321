"""`AvatarPipeline`: a user message -> an empathetic reply, spoken and shown by a talking face."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ..dialogue.conversation import Conversation
from ..dialogue.planner import Personality
from ..emotion import EmotionCurve, EmotionLike
from ..face.landmarks import load_portrait
from .dialogue import DialogueTurn, EmpatheticDialoguePipeline
from .talking_head import TalkingHeadOutput, TalkingHeadPipeline
from .tts import EmotionalSpeechOutput, EmotionalTTSPipeline
from .utils import resolve_seed

__all__ = ["AvatarOutput", "AvatarPipeline"]


@dataclass
class AvatarOutput(BaseOutput):
    """The avatar's answer: the reply's text, its speech and the talking face.

    Args:
        text: the reply.
        turn: the dialogue turn (user emotion, response emotion, strategy, `plan`).
        audio: `(N,)` float32 mono speech of the reply.
        sample_rate: the audio's rate in Hz.
        speech: the TTS output (sentences, their emotions and start times, phoneme timing).
        video: the talking head's clip (frames rendered when read; `save` writes the MP4).
    """

    text: str
    turn: DialogueTurn
    audio: np.ndarray
    sample_rate: int
    speech: EmotionalSpeechOutput
    video: TalkingHeadOutput

    def save(self, path: str | os.PathLike, progress: bool = True) -> Path:
        """Write the answer as an H.264 + AAC MP4 (no partial file on failure)."""
        return self.video.save(path, progress=progress)


class AvatarPipeline(DiffusionPipeline):
    """The empathetic avatar (DESIGN.md, pipeline 5): dialogue -> speech -> talking head.

    One emotion plan drives voice and face: the dialogue plans the reply's emotion sentence by
    sentence (`DialogueTurn.plan`, an `EmotionCurve` over sentences); the TTS speaks each
    sentence with its emotion and reports when each sentence starts; the talking head puts the
    same curve on that clock (`sentence_starts`) and moves the lips by the TTS's own phoneme
    timing.

    Components:
        dialogue: `EmpatheticDialoguePipeline`.
        tts: `EmotionalTTSPipeline`.
        talking_head: `TalkingHeadPipeline`.

    Config: `portrait`, the default portrait (a path or a sample portrait's name: "astronaut",
    "grace_hopper"); `seed`.

    Example:
        >>> pipe = load_pipeline("avatar")
        >>> answer = pipe("I failed my driving test again.", portrait="grace_hopper")
        >>> answer.text, answer.turn.strategy
        >>> answer.save("avatar.mp4")
    """

    def __init__(
        self,
        dialogue: EmpatheticDialoguePipeline,
        tts: EmotionalTTSPipeline,
        talking_head: TalkingHeadPipeline,
        portrait: str = "astronaut",
        seed: int = 0,
    ):
        super().__init__()
        self.register_modules(dialogue=dialogue, tts=tts, talking_head=talking_head)
        self.register_to_config(portrait=portrait, seed=seed)

    def __call__(
        self,
        message: str,
        portrait: Any = None,
        conversation: Conversation | None = None,
        personality: str | Mapping[str, float] | Personality | None = None,
        emotion: EmotionLike | EmotionCurve | None = None,
        fps: float | None = None,
        size: int | None = None,
        generator: int | None = None,
        return_dict: bool = True,
    ) -> AvatarOutput | tuple:
        """Answer a message with a talking face.

        Args:
            message: the user's message (the dialogue's limits apply).
            portrait: a path, image array, PIL image or sample portrait name (default the
                pipeline's `portrait`).
            conversation: the conversation so far; the message and the reply are appended.
            personality: the agent's personality ("warm", "calm", "cheerful", "neutral" or Big
                Five traits).
            emotion: None (the default): voice and face follow the reply's emotion plan.
                Otherwise this emotion or curve (over sentences or seconds) replaces the plan
                for both.
            fps: frames per second of the video (default the talking head's).
            size: the longer side of the video in pixels (default the talking head's).
            generator: seed of the reply's wording, the voice and the idle motion.
            return_dict: False returns `(text, audio, sample_rate, video)`.

        Returns:
            `AvatarOutput`.

        Raises:
            DialogueError: a bad message or personality.
            FaceError: a portrait that is not an image, or has no face.
        """
        # 1. check inputs: the portrait loads before any work is done
        image = load_portrait(
            self.config.portrait if portrait is None else portrait,
            max_size=self.talking_head.config.max_image_size,
        )
        seed = resolve_seed(generator)
        seed = self.config.seed if seed is None else seed

        # 2. the reply and its emotion plan
        turn = self.dialogue(message, conversation=conversation, personality=personality, seed=seed)

        # 3. the reply spoken sentence by sentence with the plan's emotions
        # (the TTS splits the text into the same sentences the plan indexes: split_sentences)
        shown = turn.plan if emotion is None else emotion
        speech = self.tts(turn.text, emotion=shown, generator=seed)
        audio = speech.audios[0]

        # 4. the face on the same plan, timed by the speech
        video = self.talking_head(
            image,
            audio,
            emotion=shown,
            sample_rate=speech.sample_rate,
            alignment=speech.alignments[0],
            transcript=turn.text,
            sentence_starts=speech.sentence_starts[0],
            fps=fps,
            size=size,
            generator=seed,
        )
        if not return_dict:
            return turn.text, audio, speech.sample_rate, video
        return AvatarOutput(turn.text, turn, audio, speech.sample_rate, speech, video)
