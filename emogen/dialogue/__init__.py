"""Empathetic dialogue: conversation state, the emotion and strategy planner, response backends
and the safety checks (DESIGN.md, pipeline 4). The pipeline is
`emogen.pipelines.EmpatheticDialoguePipeline`."""

from __future__ import annotations

from .conversation import Conversation, Message
from .planner import PERSONALITIES, STRATEGIES, EmotionPlanner, Personality, as_personality
from .responders import ReplyRequest, TemplateResponder
from .safety import CrisisScreen, DialogueError, check_message, is_crisis, is_english

__all__ = [
    "PERSONALITIES",
    "STRATEGIES",
    "Conversation",
    "CrisisScreen",
    "DialogueError",
    "EmotionPlanner",
    "Message",
    "Personality",
    "ReplyRequest",
    "TemplateResponder",
    "as_personality",
    "check_message",
    "is_crisis",
    "is_english",
]
