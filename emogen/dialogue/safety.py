"""What a message must pass before any reply is written: its form, its language, and a crisis check.

A message that speaks of suicide, self-harm or acute crisis is answered by the fixed safety
replies whatever the backend and whatever else the message says, so no instruction inside the
user's text can switch them off (the check runs on the text before a backend sees it). The crisis
check is a list of patterns (`is_crisis`) and, in the shipped pipeline, a learned screen beside
it (`CrisisScreen`): a message either flags is a crisis.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..errors import EmogenError

__all__ = [
    "DEFAULT_MAX_CHARS",
    "CrisisScreen",
    "DialogueError",
    "check_message",
    "is_crisis",
    "is_english",
]

DEFAULT_MAX_CHARS = 2000
EMBEDDING_SIZE = 384  # all-MiniLM-L6-v2's sentence embedding


class DialogueError(EmogenError):
    """A message, history or personality the dialogue pipeline cannot take."""


# Expressions of suicidal thoughts, self-harm and acute crisis (a medical emergency, violence
# happening now). Broad on purpose: a careful reply to a false alarm costs little, a missed one
# can cost much (the asymmetry crisis-text screening is designed around; cf. the Columbia Suicide
# Severity Rating Scale's ideation items).
_CRISIS = re.compile(
    r"""
    \b(?:kill(?:ing)?|hurt(?:ing)?|harm(?:ing)?|cut(?:ting)?|burn(?:ing)?|starv(?:e|ing))\s+
        (?:my\s*self|myself)\b
    | \bsuicid
    | \bself[-\s]?harm
    | \bend(?:ing)?\s+(?:my|it)\s+(?:life|all)\b
    | \bend\s+it\s+all\b
    | \btake\s+my\s+(?:own\s+)?life\b
    | \b(?:want|wanna|going|ready)\s+(?:to\s+)?die\b
    | \bwish\s+i\s+(?:was|were)\s+dead\b
    | \bbetter\s+off\s+(?:dead|without\s+me|if\s+i\s+(?:just\s+)?(?:wasn'?t|weren'?t|was\s+not
        |were\s+not|didn'?t\s+exist|disappeared|died))
    | \b(?:wasn'?t|weren'?t|not)\s+(?:here|around|alive)\s+any\s*more\b
    | \bdisappear\s+(?:forever|for\s+good)\b
    | \b(?:thinking|thought|think)\s+(?:about|of)\s+(?:dying|death|ending\s+(?:it|things|my\s+life))
    | \bgive\s+up\s+on\s+(?:life|living|everything)\b
    | \b(?:don'?t|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|wake\s+up|exist|be\s+here)\b
    | \bno\s+(?:point|reason)\s+(?:in\s+)?(?:living|going\s+on|to\s+live|to\s+go\s+on|being\s+alive)
    | \b(?:see|seeing)\s+(?:the|any)\s+point\s+(?:in|of)\s+(?:going\s+on|living|being\s+alive)
    | \bnot\s+(?:be|being)\s+(?:here|around)\s+any\s*more\b
    | \boverdos(?:e|ed|ing)\b
    | \b(?:empty\s+pill\s+bottle|took\s+(?:all\s+)?(?:the|my|her|his|their)\s+pills)\b
    | \b(?:not\s+breathing|unconscious|unresponsive|barely\s+responding)\b
    | \b(?:call(?:ed|ing)?|dial(?:led|ing)?)\s+(?:911|999|112|an\s+ambulance)\b
    | \b(?:jump|jumping)\s+off\s+(?:a|the)\s+(?:bridge|roof|building)\b
    | \bcan'?t\s+(?:go\s+on|keep\s+going|do\s+this\s+any\s*more)\b
    | \b(?:started|been|back\s+to)\s+(?:cutting|burning|scratching)\s*(?:again\b|[.!?,;]|$)
    | \brelaps(?:e|ed|ing)\b.{0,20}\b(?:cutting|burning|self[-\s]?harm)
    | \b(?:cutting|burning|scratching)\s+(?:again|my\s+(?:arms?|wrists?|legs?|skin))\b
    | \b(?:take|taking|took|swallow(?:ing|ed)?)\s+(?:the\s+whole|all\s+(?:of\s+)?
        (?:the|my|her|his|their|our|\w+'s)(?:\s+\w+)?)\s+
        (?:bottle|pills|tablets|meds|medication|pack|packet)\b
    | \blocked\s+(?:myself|me|us|the\s+kids)\s+in\s+(?:the|my|a)\s+(?:bathroom|bedroom|room|car)
    | \b(?:punch(?:ed|ing)?|slapp(?:ed|ing)|chok(?:ed|ing)|strangl(?:ed|ing))\s+me\b
    | \b(?:he|she|they)(?:\s+just|\s+has|'s)?\s+(?:hit|beat|kicked|shoved)\s+me\b
        (?!\s+(?:at|in|to|with\s+(?:a|the)\s+(?:ball|pillow)))
    | \b(?:punched|hit|smashed)\s+the\s+wall\s+next\s+to\s+my\s+head\b
    | \bthreaten(?:ed|ing|s)?\s+to\s+(?:kill|hurt|stab|shoot)\s+(?:me|us|my\s+kids)\b
    | \b(?:a\s+)?(?:knife|gun)\s+(?:to|at)\s+my\s+(?:throat|head|chest)\b
    | \bmake\s+(?:it\s+all|everything|the\s+pain|the\s+hurt(?:ing)?)\s+stop\b
    | \b(?:want|need)\s+(?:it\s+all|everything)\s+to\s+(?:stop|end)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

_LETTER_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def check_message(text: object, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The message with surrounding whitespace stripped, or a `DialogueError` saying what is
    wrong: not a string, empty, longer than `max_chars`, or holding control characters (other
    than newlines and tabs)."""
    if not isinstance(text, str):
        raise DialogueError(f"a message must be a string, got {type(text).__name__}")
    message = text.strip()
    if not message:
        raise DialogueError("the message is empty: write a few words to start")
    if len(message) > max_chars:
        raise DialogueError(
            f"the message has {len(message)} characters; at most {max_chars} are allowed "
            "(split it into several turns)"
        )
    for position, char in enumerate(message):
        if char not in "\n\t\r" and unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            raise DialogueError(
                f"the message holds a control character (U+{ord(char):04X} at position "
                f"{position}); only printable text, newlines and tabs are allowed"
            )
    return message


def is_crisis(text: str) -> bool:
    """Whether a message speaks of suicide, self-harm or acute crisis (see `_CRISIS`)."""
    return bool(_CRISIS.search(text.replace("’", "'")))


def is_english(text: str) -> bool:
    """Whether a message reads as English: most of its letters are ASCII and, from four words
    on, some of them are English function words (scikit-learn's English stop-word list)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = _LETTER_WORD.findall(text.replace("’", "'").lower())
    letters = "".join(words)
    if not letters:
        return True  # digits and punctuation only: nothing to judge
    if sum(c.isascii() for c in letters) / len(letters) < 0.85:
        return False
    if len(words) < 4:
        return True
    english = sum(w in ENGLISH_STOP_WORDS or w.split("'")[0] in ENGLISH_STOP_WORDS for w in words)
    return english / len(words) >= 0.12


class CrisisScreen(EmogenComponent):
    """A learned crisis screen: logistic regression (Cox 1958) on a message's sentence embedding
    (all-MiniLM-L6-v2, `emogen.emotion.text.embed_sentences`), flagging a message whose
    probability of being a crisis reaches `threshold`.

    The patterns of `is_crisis` catch the phrasings they were written for; blind test sets keep
    finding indirect ones they miss ("keep thinking it'd be easier if I just didn't wake up").
    An embedding reads the situation, so it generalises past the wording. The threshold is set
    by the false alarms on everyday messages (`fit`); the patterns stay, so the screen only adds.

    Args:
        weights: the `(384,)` coefficients.
        bias: the intercept.
        threshold: the probability from which a message is flagged, in (0, 1).

    Example:
        >>> screen, report = CrisisScreen.fit(texts, labels)
        >>> screen.flags("been looking up how many of my pills it would take")
        True
    """

    config_name = "screen_config.json"

    @register_to_config
    def __init__(self, weights: Sequence[float], bias: float = 0.0, threshold: float = 0.5):
        self.weights = np.asarray(weights, dtype=np.float32)
        if self.weights.shape != (EMBEDDING_SIZE,) or not np.isfinite(self.weights).all():
            raise DialogueError(
                f"a crisis screen needs {EMBEDDING_SIZE} finite weights (the sentence "
                f"embedding's size), got shape {self.weights.shape}"
            )
        if not (isinstance(threshold, int | float) and 0.0 < threshold < 1.0):
            raise DialogueError(f"threshold must be in (0, 1), got {threshold!r}")
        self.bias = float(bias)
        self.threshold = float(threshold)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """`(N,)` probability that each text is a crisis message."""
        from ..emotion.text import embed_sentences

        return self.embedding_probabilities(embed_sentences(texts))

    def embedding_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """`probabilities` of texts already embedded by `embed_sentences`, `(N, 384)`."""
        return _sigmoid(np.asarray(embeddings, np.float32) @ self.weights + self.bias)

    def flags(self, text: str, embedding: np.ndarray | None = None) -> bool:
        """Whether the screen flags one message; `embedding`: its `embed_sentences` embedding,
        when the caller has it (the pipeline's recognizer computed it already)."""
        if embedding is None:
            return bool(self.probabilities([text])[0] >= self.threshold)
        return bool(self.embedding_probabilities(np.asarray(embedding)[None])[0] >= self.threshold)

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[bool],
        false_alarms: float = 0.01,
        weights: Sequence[float] | None = None,
        folds: int = 5,
        seed: int = 0,
        embeddings: np.ndarray | None = None,
    ) -> tuple[CrisisScreen, dict[str, Any]]:
        """A screen fitted on labelled messages (True: crisis), and its cross-validated report.

        The threshold is the one at which a share `false_alarms` of the held-out folds' other
        messages is flagged (out-of-fold probabilities, `folds`-fold stratified): the rate of
        safety replies to everyday messages is what a user notices, so it is the one fixed; the
        recall follows. The weights are then fitted on all messages, classes weighted by their
        inverse frequency and each message by `weights` (default 1: hard negatives, "this
        traffic is killing me", can count more than everyday text). The report: the threshold,
        the held-out recall and false-alarm rate at it, the counts. `embeddings`: the texts'
        `embed_sentences`, when the caller has them already.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        from ..emotion.text import embed_sentences

        labels = np.asarray(labels, dtype=bool)
        if len(texts) != len(labels) or labels.all() or not labels.any():
            raise DialogueError(
                "fitting a crisis screen needs one label per text and both crisis and other "
                f"messages, got {len(texts)} texts, {int(labels.sum())} crisis of {len(labels)}"
            )
        if not 0.0 < false_alarms < 0.5:
            raise DialogueError(f"false_alarms must be in (0, 0.5), got {false_alarms!r}")
        weights = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
        if weights.shape != labels.shape or not (weights > 0).all():
            raise DialogueError("weights must be one positive number per text")
        features = embed_sentences(texts) if embeddings is None else np.asarray(embeddings)
        if features.shape[0] != len(labels):
            raise DialogueError(f"{features.shape[0]} embeddings for {len(labels)} texts")
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
        held_out = cross_val_predict(
            model, features, labels, cv=splits, method="predict_proba",
            params={"sample_weight": weights},
        )  # fmt: skip
        others = np.sort(held_out[~labels, 1])
        threshold = float(others[min(len(others) - 1, int((1.0 - false_alarms) * len(others)))])
        flagged = held_out[:, 1] >= threshold
        model.fit(features, labels, sample_weight=weights)
        screen = cls(weights=model.coef_[0].tolist(), bias=float(model.intercept_[0]),
                     threshold=threshold)  # fmt: skip
        report = {
            "threshold": threshold,
            "held_out_recall": float(flagged[labels].mean()),
            "held_out_false_alarms": float(flagged[~labels].mean()),
            "crisis_messages": int(labels.sum()),
            "other_messages": int((~labels).sum()),
            "folds": folds,
        }
        return screen, report


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
