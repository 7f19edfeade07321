"""Plan the reply: its emotion in VAD, the emotion of each of its sentences, and its strategy.

Response emotion (all points are effective VAD in [-1, 1]^3, emogen's shared space):

1. Personality -> temperament. Big Five traits in [-1, 1] give the agent's baseline mood P by
   Mehrabian's (1996, "Analysis of the Big-five personality factors in terms of the PAD
   temperament model") regressions, with emotional stability S = -neuroticism:
       P_v = 0.21 E + 0.59 A + 0.19 S
       P_a = 0.15 O + 0.30 A - 0.57 S
       P_d = 0.25 O + 0.17 C + 0.60 E - 0.32 A
   (the same equations drive the mood of ALMA, Gebhard 2005).
2. Mimicry by polarity (MIME, Majumder et al. 2020, "MIME: MIMicking Emotions for Empathetic
   Response Generation"): empathetic replies mimic positive emotions and answer negative ones
   with a different, supportive emotion. The mimicry target m is the user's own point for a
   positive user, and for a negative one calm warmth: the taxonomy's `caring` centroid with its
   valence lowered by 0.6 x the user's intensity (a gentle reply to strong distress, never a
   cheerful one). A neutral user gives m = P.
3. Personality-affected emotion transition (Wen et al. 2021, "Automatically Select Emotion for
   Response via Personality-affected Emotion Transition"): the response emotion is the preceding
   response emotion plus a variation composed from the context (the pull towards m) and the
   personality (the pull back to the temperament):
       r_t = r_{t-1} + k (m_t - r_{t-1}) + g (P - r_{t-1}),    r_0 = P
   with responsiveness k = 0.55 + 0.15 agreeableness + 0.1 neuroticism (agreeable and reactive
   agents follow the user more) and g = `mood_weight`.

The reply's sentences then get an emotion plan: the acknowledgement sentence leans towards the
user's emotion (empathic concern: a negative user's valence, at `acknowledgement_share`), the
body carries r_t, and a closing sentence eases back towards the temperament.

Support strategy: one of the eight of ESConv (Liu et al. 2021, "Towards Emotional Support
Dialog Systems"), chosen by ESConv's stage order (exploration -> comforting -> action, by the
number of negative turns so far), what the message asks for (a request for advice -> suggestion
or information; good news -> question and affirmation) and no repeat of the previous turn's
strategy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..emotion import Emotion, EmotionCurve, load_taxonomy
from .safety import DialogueError

__all__ = [
    "PERSONALITIES",
    "STRATEGIES",
    "EmotionPlanner",
    "Personality",
    "as_personality",
]

STRATEGIES = (
    "question",
    "restatement",
    "reflection",
    "self_disclosure",
    "affirmation",
    "suggestion",
    "information",
    "others",
)


@dataclass(frozen=True)
class Personality:
    """Big Five traits (Costa & McCrae), each in [-1, 1] (0 = population average)."""

    openness: float = 0.0
    conscientiousness: float = 0.0
    extraversion: float = 0.0
    agreeableness: float = 0.0
    neuroticism: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DialogueError(f"trait {field.name} must be a number, got {value!r}")
            if not -1.0 <= value <= 1.0:
                raise DialogueError(f"trait {field.name} must be in [-1, 1], got {value}")

    @property
    def temperament(self) -> tuple[float, float, float]:
        """The baseline mood in VAD (Mehrabian 1996; module docstring)."""
        o, c, e = self.openness, self.conscientiousness, self.extraversion
        a, s = self.agreeableness, -self.neuroticism
        point = (
            0.21 * e + 0.59 * a + 0.19 * s,
            0.15 * o + 0.30 * a - 0.57 * s,
            0.25 * o + 0.17 * c + 0.60 * e - 0.32 * a,
        )
        return tuple(float(np.clip(x, -1.0, 1.0)) for x in point)  # type: ignore[return-value]

    @property
    def responsiveness(self) -> float:
        """k of the transition: how far one turn moves the reply emotion towards its target."""
        return 0.55 + 0.15 * self.agreeableness + 0.1 * self.neuroticism

    def to_dict(self) -> dict[str, float]:
        return {field.name: float(getattr(self, field.name)) for field in fields(self)}


PERSONALITIES: dict[str, Personality] = {
    # Warm: very agreeable and stable, a little open and outgoing (pleasant, mid arousal).
    "warm": Personality(0.3, 0.3, 0.2, 0.9, -0.5),
    # Calm: stable above all, conscientious, a little reserved (pleasant, low arousal).
    "calm": Personality(0.2, 0.5, -0.2, 0.5, -0.9),
    # Cheerful: outgoing, agreeable and open (pleasant, dominant, lively).
    "cheerful": Personality(0.5, 0.2, 0.9, 0.6, -0.4),
    # Neutral: the population average (temperament at the origin).
    "neutral": Personality(),
}


def as_personality(value: str | Mapping[str, float] | Personality | None) -> Personality:
    """A preset name ("warm", "calm", "cheerful", "neutral"), a dict of traits (missing ones 0),
    a `Personality`, or None (warm)."""
    if value is None:
        return PERSONALITIES["warm"]
    if isinstance(value, Personality):
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        if name not in PERSONALITIES:
            raise DialogueError(
                f"unknown personality {value!r}; presets: {', '.join(PERSONALITIES)}, or traits "
                "such as {'agreeableness': 0.8, 'neuroticism': -0.5} (each in [-1, 1])"
            )
        return PERSONALITIES[name]
    if isinstance(value, Mapping):
        known = {field.name for field in fields(Personality)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise DialogueError(f"unknown traits {unknown}; the Big Five are {sorted(known)}")
        return Personality(**{k: value[k] for k in value})
    raise DialogueError(
        f"a personality is a preset name, a dict of traits or a Personality, got "
        f"{type(value).__name__}"
    )


_ADVICE = re.compile(
    r"\b(?:what\s+(?:should|can|do)\s+i|how\s+(?:do|can|should)\s+i|any\s+(?:tips|advice|ideas)"
    r"|advice|suggest|should\s+i|what\s+would\s+you\s+do|help\s+me\s+(?:figure|decide|with))\b",
    re.IGNORECASE,
)
_INFORMATION = re.compile(
    r"\b(?:is\s+(?:it|this|that)\s+normal|is\s+it\s+common|why\s+do\s+i|how\s+long\s+does"
    r"|does\s+it\s+get\s+better|what\s+(?:is|are)\b)",
    re.IGNORECASE,
)


class EmotionPlanner(EmogenComponent):
    """The dialogue's emotion and strategy planner (formulas in the module docstring).

    Args:
        personality: a preset name or a dict of Big Five traits (see `as_personality`).
        mood_weight: g, the pull back to the temperament each turn, in [0, 1].
        acknowledgement_share: how much of a negative user's valence the first sentence of the
            reply takes on (empathic concern), in [0, 1].

    Example:
        >>> planner = EmotionPlanner(personality="warm")
        >>> reply = planner.response_emotion(Emotion.parse("sad"), previous=None)
        >>> reply.category, reply.valence > 0
        ('caring', True)
    """

    config_name = "planner_config.json"

    @register_to_config
    def __init__(
        self,
        personality: str | dict = "warm",
        mood_weight: float = 0.2,
        acknowledgement_share: float = 0.35,
    ):
        self.personality = as_personality(personality)
        for name, value in (("mood_weight", mood_weight), ("acknowledgement_share",
                                                            acknowledgement_share)):  # fmt: skip
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise DialogueError(f"{name} must be in [0, 1], got {value!r}")

    # ----- emotion -----------------------------------------------------------------------------
    def mimicry_target(self, user: Emotion, personality: Personality | None = None) -> np.ndarray:
        """m: the user's point when positive, calm warmth when negative, the temperament when
        neutral (MIME's polarity split; module docstring)."""
        personality = personality or self.personality
        valence = user.vad[0]
        if user.is_neutral or abs(valence) < 0.05:
            return np.array(personality.temperament)
        if valence > 0:
            return np.array(user.vad)
        caring = np.array(load_taxonomy().vad("caring"))
        caring[0] *= 1.0 - 0.6 * user.intensity
        return caring

    def response_emotion(
        self,
        user: Emotion,
        previous: Emotion | None,
        personality: str | Mapping[str, float] | Personality | None = None,
    ) -> Emotion:
        """r_t for the user's emotion and the previous reply's (None at the first turn), named
        as the mimicry rule says: the user's own category when positive, `caring` when
        negative, and calm or happy (by arousal) when neutral."""
        personality = self._personality(personality)
        mood = np.array(personality.temperament)
        before = mood if previous is None else np.array(previous.vad)
        target = self.mimicry_target(user, personality)
        point = (
            before
            + personality.responsiveness * (target - before)
            + self.config.mood_weight * (mood - before)
        )
        return _named(np.clip(point, -1.0, 1.0), _reply_name(user, point))

    def sentence_plan(
        self,
        response: Emotion,
        user: Emotion,
        num_sentences: int,
        personality: str | Mapping[str, float] | Personality | None = None,
        crisis: bool = False,
    ) -> EmotionCurve:
        """The reply's emotion sentence by sentence (an `EmotionCurve` over sentences):
        acknowledgement (sentence 0) with empathic concern, body at the response emotion, a
        final closing sentence eased towards the temperament (from three sentences on)."""
        if num_sentences < 1:
            raise DialogueError(f"a reply has at least one sentence, got {num_sentences}")
        personality = self._personality(personality)
        body = np.array(response.vad)
        if crisis:  # steady, calm warmth throughout
            steady = np.array(load_taxonomy().vad("caring")) * np.array([0.6, 0.8, 0.6])
            return EmotionCurve.from_sentences([_named(steady, "caring")] * num_sentences)
        name = response.category or _reply_name(user, body)
        emotions = []
        for index in range(num_sentences):
            point = body
            if index == 0 and user.vad[0] < -0.05:
                share = self.config.acknowledgement_share
                point = body + share * np.array([user.vad[0] - body[0], 0.0, 0.0])
            elif index == num_sentences - 1 and num_sentences >= 3:
                point = body + 0.3 * (np.array(personality.temperament) - body)
            emotions.append(_named(np.clip(point, -1.0, 1.0), name))
        return EmotionCurve.from_sentences(emotions)

    # ----- strategy ----------------------------------------------------------------------------
    def choose_strategy(
        self,
        message: str,
        user: Emotion,
        negative_turns: int,
        previous: str | None,
        reflectable: bool = True,
    ) -> str:
        """One of `STRATEGIES` (rules in the module docstring).

        Args:
            message: the user's message.
            user: its recognised emotion.
            negative_turns: earlier user turns with a negative emotion in this conversation.
            previous: the strategy of the previous reply, if any.
            reflectable: whether the message has a clause to restate (`content.reflect`).
        """
        valence = user.vad[0]
        if _ADVICE.search(message):
            ranked = ["suggestion", "information", "affirmation"]
        elif _INFORMATION.search(message):
            ranked = ["information", "suggestion", "reflection"]
        elif user.is_neutral or abs(valence) < 0.05:
            ranked = ["question", "others", "information"]
        elif valence > 0:
            ranked = ["question", "affirmation", "others", "self_disclosure"]
        elif negative_turns == 0:  # exploration
            ranked = ["reflection", "question", "restatement"]
        elif negative_turns == 1:  # comforting
            ranked = ["restatement", "reflection", "self_disclosure", "affirmation"]
        elif negative_turns == 2:
            ranked = ["affirmation", "self_disclosure", "question", "reflection"]
        else:  # action
            ranked = ["suggestion", "information", "affirmation", "reflection"]
        if not reflectable and "restatement" in ranked:
            ranked.remove("restatement")
        for strategy in ranked:
            if strategy != previous:
                return strategy
        return ranked[0]

    def _personality(self, value: str | Mapping[str, float] | Personality | None) -> Personality:
        return self.personality if value is None else as_personality(value)


def _reply_name(user: Emotion, point: np.ndarray) -> str:
    """The category a reply emotion is named by (MIME's polarity rule)."""
    valence = user.vad[0]
    if user.is_neutral or abs(valence) < 0.05 or user.category is None:
        return "calm" if point[1] < 0 else "happy"
    return user.category if valence > 0 else "caring"


def _named(point: np.ndarray, name: str) -> Emotion:
    """An emotion at an effective VAD point with a category label."""
    if np.linalg.norm(point) < 0.05:
        return Emotion.neutral()
    return Emotion(*(float(x) for x in point), intensity=1.0, mixture=((name, 1.0),))


def negative_count(emotions: Sequence[Emotion]) -> int:
    """How many of the emotions are negative (valence below -0.05)."""
    return sum(e.vad[0] < -0.05 for e in emotions)
