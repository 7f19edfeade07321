"""`Conversation`: the turns so far, with the emotions recognised and planned on each.

Saved and loaded as JSON (`emogen chat --history FILE`): a list of messages, or an object with a
"messages" list, each message `{"role": "user" | "assistant", "text": "..."}` plus optionally
`"emotion"` (an `Emotion.to_dict()` or any form `Emotion.parse` reads) and, on assistant
messages, `"strategy"`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..emotion import Emotion, as_emotion
from ..errors import EmogenError
from .safety import DialogueError

__all__ = ["MAX_HISTORY_MESSAGES", "Conversation", "Message"]

ROLES = ("user", "assistant")
MAX_HISTORY_MESSAGES = 1000  # a history file longer than this is refused (a limit, not a need)


@dataclass(frozen=True)
class Message:
    """One message of a conversation.

    Attributes:
        role: "user" or "assistant".
        text: what was said.
        emotion: the user's recognised emotion, or the reply's planned one; None when unknown.
        strategy: the support strategy of an assistant message.
        cues: the words that carried a user message's emotion.
    """

    role: str
    text: str
    emotion: Emotion | None = None
    strategy: str | None = None
    cues: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "text": self.text}
        if self.emotion is not None:
            data["emotion"] = self.emotion.to_dict()
        if self.strategy is not None:
            data["strategy"] = self.strategy
        if self.cues:
            data["cues"] = list(self.cues)
        return data


class Conversation:
    """The messages of one conversation, oldest first.

    Example:
        >>> conversation = Conversation.load("history.json")
        >>> turn = pipe("and today it got worse", conversation=conversation)  # appends both
        >>> conversation.save("history.json")
    """

    def __init__(self, messages: Sequence[Message] = ()):
        self.messages: list[Message] = list(messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def add(self, message: Message) -> None:
        self.messages.append(message)

    def by(self, role: str) -> list[Message]:
        """The messages of one role, oldest first."""
        return [m for m in self.messages if m.role == role]

    def last(self, role: str) -> Message | None:
        """The newest message of a role, or None."""
        return next((m for m in reversed(self.messages) if m.role == role), None)

    # ----- JSON ---------------------------------------------------------------------------------
    def to_list(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.messages]

    def save(self, path: str | os.PathLike) -> None:
        """Write the conversation as a JSON list of messages (atomically)."""
        from .._files import atomic_path

        with atomic_path(Path(path)) as partial:
            Path(partial).write_text(json.dumps(self.to_list(), indent=1) + "\n", "utf-8")

    @classmethod
    def from_list(cls, data: Any, source: str = "history") -> Conversation:
        """A conversation from parsed JSON (format in the module docstring).

        Raises:
            DialogueError: naming every malformed message by its index and what is wrong.
        """
        if isinstance(data, Mapping):
            if "messages" not in data:
                raise DialogueError(
                    f"{source}: an object history needs a 'messages' list; got keys {sorted(data)}"
                )
            data = data["messages"]
        if not isinstance(data, list):
            raise DialogueError(
                f"{source}: a history is a JSON list of messages (or an object with "
                f"'messages'), got {type(data).__name__}"
            )
        if len(data) > MAX_HISTORY_MESSAGES:
            raise DialogueError(
                f"{source}: {len(data)} messages; at most {MAX_HISTORY_MESSAGES} are read"
            )
        messages, problems = [], []
        for index, item in enumerate(data):
            try:
                messages.append(_message(item))
            except EmogenError as error:
                problems.append(f"message {index}: {error}")
        if problems:
            raise DialogueError(f"{source} is malformed:\n  " + "\n  ".join(problems))
        return cls(messages)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Conversation:
        """Read a history file (format in the module docstring).

        Raises:
            DialogueError: unreadable file, invalid JSON (with its line and column) or malformed
                messages.
        """
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DialogueError(f"cannot read the history file {path}: {error}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DialogueError(
                f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
            ) from None
        return cls.from_list(data, source=str(path))


def _message(item: Any) -> Message:
    if not isinstance(item, Mapping):
        raise DialogueError(f"expected an object with 'role' and 'text', got {type(item).__name__}")
    role, text = item.get("role"), item.get("text")
    if role not in ROLES:
        raise DialogueError(f"'role' must be one of {list(ROLES)}, got {role!r}")
    if not isinstance(text, str) or not text.strip():
        raise DialogueError("'text' must be a non-empty string")
    emotion = item.get("emotion")
    if emotion is not None:
        emotion = (
            Emotion.from_dict(emotion) if isinstance(emotion, Mapping) else as_emotion(emotion)
        )
    strategy = item.get("strategy")
    if strategy is not None and not isinstance(strategy, str):
        raise DialogueError(f"'strategy' must be a string, got {type(strategy).__name__}")
    cues = item.get("cues", ())
    if not (isinstance(cues, list | tuple) and all(isinstance(c, str) for c in cues)):
        raise DialogueError("'cues' must be a list of strings")
    return Message(role, text.strip(), emotion, strategy, tuple(cues))
