"""Visemes from phoneme timing (emogen.face.visemes), on the alignment emogen's TTS gives."""

from __future__ import annotations

import numpy as np
import pytest

from emogen.errors import EmogenError
from emogen.face.visemes import (
    MOUTH_PARAMETERS,
    VISEMES,
    mouth_track,
    phoneme_viseme,
    viseme_segments,
)
from emogen.speech.voice import PhonemeTiming

JAW, ROUND, CLOSURE = (MOUTH_PARAMETERS.index(n) for n in ("jaw_open", "lip_round", "lip_closure"))


def timings(*items: tuple[str, float, float]) -> list[PhonemeTiming]:
    return [PhonemeTiming(p, s, e) for p, s, e in items]


def test_phonemes_map_to_mpeg4_visemes():
    assert {phoneme_viseme(p) for p in "pbm"} == {"PBM"}
    assert phoneme_viseme("f") == phoneme_viseme("v") == "FV"
    assert phoneme_viseme("ʃ") == "SH" and phoneme_viseme("ɑ") == "A" and phoneme_viseme("u") == "U"
    assert phoneme_viseme(".") == "rest" and phoneme_viseme(" ") is None
    assert phoneme_viseme("ˈ") is None and phoneme_viseme("h") is None
    assert set(VISEMES) >= {"rest", "PBM", "A", "O", "U", "I", "E"}


def test_segments_merge_marks_and_repeats():
    # The stress mark's time goes to the vowel after it, the length mark's to the vowel before.
    alignment = timings(
        ("b", 0.0, 0.05), ("ˈ", 0.05, 0.08), ("a", 0.08, 0.2), ("ː", 0.2, 0.25),
        (" ", 0.25, 0.3), ("m", 0.3, 0.35), ("m", 0.35, 0.4), (".", 0.4, 0.6),
    )  # fmt: skip
    assert viseme_segments(alignment) == [
        ("PBM", 0.0, 0.05), ("A", 0.05, 0.25), ("PBM", 0.3, 0.4), ("rest", 0.4, 0.6)
    ]  # fmt: skip
    with pytest.raises(EmogenError, match="ends before it starts"):
        viseme_segments(timings(("a", 0.3, 0.2)))


def test_the_mouth_opens_on_vowels_closes_on_bilabials_and_in_silence():
    # "ma ... pu", with a long pause between.
    alignment = timings(("m", 0.10, 0.16), ("ɑ", 0.16, 0.40), ("p", 1.20, 1.26), ("u", 1.26, 1.5))
    times = np.arange(0.0, 2.0, 0.01)
    track = mouth_track(alignment, times)
    assert track.shape == (len(times), len(MOUTH_PARAMETERS))
    at = lambda t: track[round(t / 0.01)]  # noqa: E731
    assert at(0.28)[JAW] > 0.6 and at(0.28)[CLOSURE] < 0.3  # open on "a"
    assert at(0.13)[CLOSURE] > 0.6 and at(1.23)[CLOSURE] > 0.6  # lips meet for m and p
    assert at(1.40)[ROUND] > 0.6  # rounded on "u"
    for t in (0.0, 0.8, 1.95):  # before, in the pause, after: at rest
        assert at(t)[JAW] < 0.1 and at(t)[CLOSURE] > 0.8
    assert np.abs(np.diff(track[:, JAW])).max() < 0.35  # coarticulation: no jumps at 100 fps
    assert (mouth_track([], times)[:, CLOSURE] == 1.0).all()
    with pytest.raises(EmogenError, match="1-D array"):
        mouth_track(alignment, np.zeros((2, 2)))


def test_mouth_follows_the_tts_alignment(tts_default):
    chunk = next(iter(tts_default.stream("Maybe we should buy fresh bread.", emotion="neutral")))
    times = np.arange(0.0, len(chunk.audio) / chunk.sample_rate, 0.04)  # 25 fps
    track = mouth_track(chunk.alignment, times)
    spoken = [(s, e) for v, s, e in viseme_segments(chunk.alignment) if v in ("A", "E", "O")]
    # Fluent speech is fast (vowels of 40-80 ms): the jaw opens part way, at the vowels, and
    # is nearly closed at the first frame ("m" of "Maybe", the voice starting at once).
    assert len(spoken) >= 3 and track[:, JAW].max() > 0.35 and track[0, JAW] < 0.15
    opening = [track[int((s + e) / 2 / 0.04), JAW] for s, e in spoken]
    assert np.mean(opening) > track[0, JAW] + 0.2
