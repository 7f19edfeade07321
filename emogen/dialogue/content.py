"""The user's own words, turned to face them: a topic noun phrase and a reflected clause.

The offline responder fills its sentences with these (`{topic}`, `{reflection}`), the way a
listener restates what they heard. Reflection is the pronoun swap of ELIZA (Weizenbaum 1966,
"ELIZA - a computer program for the study of natural language communication between man and
machine"): "I failed my driving test" -> "you failed your driving test". Both are rules over
words with no tagger, so they only fire on the clear cases and return None otherwise; the
responder then uses a sentence without the slot.
"""

from __future__ import annotations

import re

__all__ = ["extract_topic", "reflect"]

# First person -> second person (ELIZA's reflections). "was" and "am" follow "I" only.
_SWAP = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "ive": "you've",
    "i'll": "you'll",
    "i'd": "you'd",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
    "we're": "you're",
    "we've": "you've",
}
_AFTER_I = {"am": "are", "was": "were", "wasn't": "weren't"}
# Words that open a statement without adding to it.
_FILLERS = {
    "honestly", "well", "so", "and", "but", "yeah", "yes", "ugh", "oh", "okay", "ok", "um",
    "hmm", "anyway", "basically", "like", "just", "also", "actually", "lol", "man", "god",
}  # fmt: skip
# The reflected clause stops before these: the rest is a reason or an aside.
_CLAUSE_BREAKS = (
    " because ", " but ", " and then ", " so i ", " so we ", " so my ", " which ", " since ",
    " though ", " although ",
)  # fmt: skip
MAX_REFLECTION_WORDS = 14

# A word after "my" that modifies the next one ("my new job", "my best friend").
_MODIFIERS = {
    "new", "old", "best", "ex", "little", "big", "older", "younger", "elder", "first", "last",
    "whole", "own", "final", "math", "maths", "science", "english", "history", "job", "dream",
    "home", "phone", "car", "work", "school", "college", "uni", "birthday", "wedding", "family",
    "youngest", "oldest", "late", "dear", "baby", "twin", "step", "grand", "cover", "art",
    "exam", "test", "project", "business", "rent", "bank", "court", "medical", "blood",
}  # fmt: skip
# Words that cannot end a noun phrase after "my": verbs, adverbs, function words.
_NOT_NOUN = {
    "is", "was", "are", "were", "has", "had", "have", "does", "did", "do", "will", "would",
    "can", "could", "should", "might", "must", "just", "never", "always", "still", "already",
    "says", "said", "keeps", "kept", "wants", "wanted", "thinks", "thought", "told", "tells",
    "got", "gets", "left", "leaves", "made", "makes", "went", "goes", "came", "comes", "took",
    "takes", "won", "lost", "and", "or", "but", "to", "of", "in", "on", "at", "for", "with",
    "from", "the", "a", "an", "that", "this", "who", "which", "when", "so", "too", "very",
    "really", "again", "yesterday", "today", "tonight", "now", "own", "self", "life", "mind",
    "head", "heart", "best", "fault", "way", "time", "turn", "part", "feelings", "eyes",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_POSSESSIVE = re.compile(r"\b(?:my|our)\s+([A-Za-z][A-Za-z'-]*)(?:\s+([A-Za-z][A-Za-z'-]*))?", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def extract_topic(text: str) -> str | None:
    """The first "my X" / "our X" noun phrase of a message, as "your X"; None when none reads
    as a noun phrase.

    Example:
        >>> extract_topic("My dog died on Sunday and I can't stop crying.")
        'your dog'
        >>> extract_topic("I finally passed my driving test!")
        'your driving test'
    """
    for match in _POSSESSIVE.finditer(text):
        first, second = match.group(1).lower(), (match.group(2) or "").lower()
        if first in _NOT_NOUN or first in _SWAP or _verb_like(first):
            continue
        words = [first]
        if second and (first in _MODIFIERS or first.endswith("ing")) and _noun_like(second):
            words.append(second)
        if words[-1] in _MODIFIERS and not _noun_like(words[-1]):
            continue
        return "your " + " ".join(words)
    return None


def reflect(text: str, cues: tuple[str, ...] = ()) -> str | None:
    """One first-person statement of the message in second person, lower-case start, no final
    punctuation; None when no sentence is a short first-person statement (questions and
    sentences that address "you" are not reflected).

    The sentence holding the most cue words (the emotion's cause, from the recognizer) is
    preferred; the clause stops before "because", "but", ... and must be at most
    `MAX_REFLECTION_WORDS` words.

    Example:
        >>> reflect("Ugh. My flight got cancelled again because of the storm.")
        'your flight got cancelled again'
    """
    candidates = []
    for index, sentence in enumerate(_SENTENCE_END.split(text.strip())):
        clause = _statement(sentence)
        if clause is not None:
            hits = sum(cue in clause.lower() for cue in cues)
            candidates.append((-hits, index, clause))
    if not candidates:
        return None
    return min(candidates)[2]


def _statement(sentence: str) -> str | None:
    sentence = sentence.strip()
    if not sentence or sentence.endswith("?"):
        return None
    clause = sentence.rstrip(".!… ").strip()
    for marker in _CLAUSE_BREAKS:
        position = clause.lower().find(marker)
        if position > 0:
            clause = clause[:position]
    words = clause.split()
    while words and words[0].lower().strip(",.;:!") in _FILLERS:
        words.pop(0)
    head = " ".join(words).split(",")[0].split()
    if len(head) >= 3:  # a clause before a comma says it; the rest is detail
        words = head
    if not words or len(words) > MAX_REFLECTION_WORDS:
        return None
    lowered = [w.lower() for w in words]
    if lowered[0] not in _SWAP or any(
        w.strip(",.;:!") in {"you", "your", "you're"} for w in lowered
    ):
        return None
    out = []
    for i, word in enumerate(words):
        key = word.lower().strip(",.;:!")
        tail = word[len(word.rstrip(",.;:!")) :]
        if key in _SWAP:
            out.append(_SWAP[key] + tail)
        elif key in _AFTER_I and i > 0 and lowered[i - 1] == "i":
            out.append(_AFTER_I[key] + tail)
        elif key == "i" or (word[0].isupper() and i == 0):
            out.append(word.lower())
        else:
            out.append(word)
    clause = " ".join(out).rstrip(",;:")
    return clause if _WORD.search(clause) else None


def _verb_like(word: str) -> bool:
    return word.endswith("ed") or word in _NOT_NOUN


def _noun_like(word: str) -> bool:
    return not _verb_like(word) and word not in _SWAP and not word.endswith("ly")
