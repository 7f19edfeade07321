"""Response backends: the offline `TemplateResponder` (default) and `CausalLMResponder`.

Both take a `ReplyRequest` (the message, the recognised user emotion and its cues, the planned
response emotion and strategy, the conversation so far) and return the reply's sentences; the
pipeline plans their emotions. A crisis message never reaches a backend (safety.py).

The template responder needs no language model. Its material (data/responses.json, written for
emogen) holds, per emotion family, acknowledgements, closings and sentences for each of the eight
ESConv strategies, some with slots filled from the user's own words (`content.py`): `{topic}`
("your driving test"), `{reflection}` ("you failed your driving test") and `{feeling}` (the
recognised category). A reply is an acknowledgement, one or two strategy sentences and sometimes
a closing; each is chosen among the family's candidates by sentence-embedding similarity to the
message (all-MiniLM-L6-v2, the recognizer's encoder) plus a small seeded jitter, never reusing a
sentence this conversation already heard; strategy sentences are ordered by similarity.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..emotion import Emotion, load_taxonomy
from .content import extract_topic, reflect
from .conversation import Conversation
from .planner import STRATEGIES
from .safety import DialogueError

__all__ = ["FAMILIES", "ReplyRequest", "TemplateResponder", "fixed_reply", "response_family"]

# The families the material is written for; `response_family` maps every category to one.
FAMILIES = ("sad", "afraid", "angry", "disgusted", "embarrassed", "surprised", "happy", "neutral")
# Categories whose expression family (taxonomy) would miss the support they need.
_FAMILY_OVERRIDES = {
    "embarrassed": "embarrassed",
    "ashamed": "embarrassed",
    "guilty": "embarrassed",
    "calm": "happy",
}
_SLOT = re.compile(r"\{(topic|reflection|feeling)\}")
# What a slot reads as when a template is embedded (its wording, not its filling, is compared).
_SLOT_PLACEHOLDERS = {"topic": "this", "reflection": "that happened", "feeling": "that way"}
# A second strategy sentence after these: ESConv supporters often restate, then ask.
_FOLLOW_UP = {
    "reflection": "question",
    "restatement": "question",
    "self_disclosure": "question",
    "affirmation": "question",
    "others": "question",
}
# The whole replies of the material by the pipeline's kinds of message.
_FIXED = {"safety": "safety", "language": "unsupported_language", "greeting": "greeting"}
JITTER = 0.04  # seeded noise on similarity: variety among near-equal candidates


@dataclass
class ReplyRequest:
    """What a backend needs to write one reply.

    Attributes:
        message: the user's message (checked).
        user_emotion: its recognised emotion (with context).
        cues: the words that carried it.
        response_emotion: the planned emotion of the reply.
        strategy: one of the eight ESConv strategies.
        conversation: the conversation before this message.
        seed: seed of the backend's choices (same inputs and seed, same reply).
        embedding: the message's unit sentence embedding when already computed (the
            recognizer's), else None.
    """

    message: str
    user_emotion: Emotion
    cues: tuple[str, ...]
    response_emotion: Emotion
    strategy: str
    conversation: Conversation
    seed: int = 0
    embedding: np.ndarray | None = None


def response_family(emotion: Emotion) -> str:
    """The material family for a user emotion: one of `FAMILIES`."""
    name = emotion.category
    if emotion.is_neutral or name is None:
        valence = emotion.vad[0]
        if abs(valence) < 0.05:
            return "neutral"
        name = emotion.nearest_category()
    if name in _FAMILY_OVERRIDES:
        return _FAMILY_OVERRIDES[name]
    families = load_taxonomy().family(name)
    if not families:
        return "neutral"
    family = max(families, key=families.get)
    return "happy" if family == "calm" else family


@lru_cache(maxsize=1)
def load_material() -> dict[str, Any]:
    """The packaged response material (data/responses.json), checked once."""
    data = json.loads(resources.files(__package__).joinpath("data/responses.json").read_text())
    for section in ("acknowledgements", "closings"):
        missing = [f for f in FAMILIES if not data[section].get(f)]
        if missing:
            raise DialogueError(f"responses.json: {section} lack the families {missing}")
    for strategy in STRATEGIES:
        missing = [f for f in FAMILIES if not data["strategies"].get(strategy, {}).get(f)]
        if missing:
            raise DialogueError(f"responses.json: strategy {strategy} lacks the families {missing}")
    return data


class TemplateResponder(EmogenComponent):
    """The offline response backend (module docstring).

    Args:
        strategy_sentences: at most this many strategy sentences per reply (1 or 2).
        seed: base seed of the choices; each turn mixes in its message and position.

    Example:
        >>> responder = TemplateResponder()
        >>> responder.reply(request)
        ["That sounds really painful.", "It sounds like your dog died on Sunday...", ...]
    """

    config_name = "responder_config.json"

    @register_to_config
    def __init__(self, strategy_sentences: int = 2, seed: int = 0):
        if strategy_sentences not in (1, 2):
            raise DialogueError(f"strategy_sentences must be 1 or 2, got {strategy_sentences!r}")

    def reply(self, request: ReplyRequest, steering: Any = None) -> list[str]:
        """The reply's sentences, in order (`steering` is for language models: unused)."""
        from ..emotion.text import embed_sentences

        material = load_material()
        family = response_family(request.user_emotion)
        slots = self._slots(request)
        heard = [m.text for m in request.conversation.by("assistant")]
        rng = np.random.default_rng(_seed(request))
        query = request.embedding
        if query is None:
            query = embed_sentences([request.message])[0]

        def pick(candidates: Sequence[str], taken: Sequence[str]) -> tuple[str, float] | None:
            return _best(candidates, slots, heard, taken, query, rng)

        chosen: list[str] = []
        acknowledgement = pick(material["acknowledgements"][family], chosen)
        strategies = [request.strategy]
        if self.config.strategy_sentences == 2 and request.strategy in _FOLLOW_UP:
            strategies.append(_FOLLOW_UP[request.strategy])
        body = []
        for strategy in strategies:
            found = pick(material["strategies"][strategy][family], [*chosen, *(b for b, _ in body)])
            if found is not None:
                body.append(found)
        # Ordered by similarity, but a question comes last (it hands the turn back).
        body.sort(key=lambda item: (item[0].endswith("?"), -item[1]))
        if acknowledgement is not None:
            chosen.append(acknowledgement[0])
        chosen += [sentence for sentence, _ in body]
        if not chosen[-1].endswith("?") or len(chosen) < 2:
            closing = pick(material["closings"][family], chosen)
            if closing is not None and len(chosen) < 3:
                chosen.append(closing[0])
        return chosen

    @staticmethod
    def _slots(request: ReplyRequest) -> dict[str, str]:
        slots = {}
        topic = extract_topic(request.message)
        if topic:
            slots["topic"] = topic
        reflection = reflect(request.message, request.cues)
        if reflection:
            slots["reflection"] = reflection
        category = request.user_emotion.category
        if category and not request.user_emotion.is_neutral:
            slots["feeling"] = category
        return slots


def fixed_reply(kind: str, conversation: Conversation, seed: int = 0) -> str:
    """A whole reply for a kind of message ("safety", "language", "greeting") from the
    material's lists: the first not yet said in this conversation (in a seeded order). Every
    backend answers these kinds with it."""
    if kind not in _FIXED:
        raise DialogueError(f"no fixed replies for {kind!r}; kinds: {list(_FIXED)}")
    replies = list(load_material()[_FIXED[kind]])
    order = np.random.default_rng(seed + len(conversation)).permutation(len(replies))
    heard = {m.text for m in conversation.by("assistant")}
    for index in order:
        if replies[index] not in heard:
            return replies[index]
    return replies[order[0]]


@lru_cache(maxsize=4096)
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = _SLOT.split(template)
    # split keeps the slot names at odd positions
    pattern = "".join(".+?" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(pattern, re.IGNORECASE)


def _embeddings(templates: Sequence[str]) -> np.ndarray:
    index, embeddings = _all_template_embeddings()
    return embeddings[[index[t] for t in templates]]


@lru_cache(maxsize=1)
def _all_template_embeddings() -> tuple[dict[str, int], np.ndarray]:
    """Every sentence of the material, embedded once (cached on disk) with slot placeholders."""
    from ..emotion.text import embed_packaged_sentences

    material = load_material()
    sentences = [
        *(s for group in material["acknowledgements"].values() for s in group),
        *(s for group in material["closings"].values() for s in group),
        *(
            s
            for by_family in material["strategies"].values()
            for g in by_family.values()
            for s in g
        ),
    ]
    unique = list(dict.fromkeys(sentences))
    readable = [_SLOT.sub(lambda m: _SLOT_PLACEHOLDERS[m.group(1)], s) for s in unique]
    embeddings = embed_packaged_sentences(readable, "dialogue_responses")
    return {s: i for i, s in enumerate(unique)}, embeddings


def _best(
    candidates: Sequence[str],
    slots: dict[str, str],
    heard: Sequence[str],
    taken: Sequence[str],
    query: np.ndarray,
    rng: np.random.Generator,
) -> tuple[str, float] | None:
    usable = [t for t in candidates if set(_SLOT.findall(t)) <= set(slots)]
    fresh = [
        t for t in usable if not any(_template_pattern(t).search(text) for text in [*heard, *taken])
    ]
    pool = fresh or [t for t in usable if not any(_template_pattern(t).search(x) for x in taken)]
    if not pool:
        return None
    similarity = _embeddings(pool) @ query
    scores = similarity + JITTER * rng.standard_normal(len(pool))
    index = int(np.argmax(scores))
    filled = _SLOT.sub(lambda m: slots[m.group(1)], pool[index])
    return filled[0].upper() + filled[1:], float(similarity[index])


def _seed(request: ReplyRequest) -> int:
    key = f"{request.seed}|{len(request.conversation)}|{request.message}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
