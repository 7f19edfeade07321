"""What a message must pass before any reply is written: its form, its language, and a crisis check.

A message that speaks of suicide, self-harm or acute crisis is answered by the fixed safety
replies whatever the backend and whatever else the message says, so no instruction inside the
user's text can switch them off (the check runs on the text before a backend sees it).
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import EmogenError

__all__ = ["DEFAULT_MAX_CHARS", "DialogueError", "check_message", "is_crisis", "is_english"]

DEFAULT_MAX_CHARS = 2000


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
