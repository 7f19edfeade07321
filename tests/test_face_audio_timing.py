"""Visemes timed from the audio alone (emogen.face.audio_timing), against the TTS's known timing."""

from __future__ import annotations

import numpy as np
import pytest

from emogen.errors import EmogenError
from emogen.face.audio_timing import (
    _match_transcript,
    _spread,
    align_audio,
    mouth_track_from_audio,
    speech_regions,
)
from emogen.face.visemes import MOUTH_PARAMETERS, VISEMES, mouth_track, viseme_segments
from emogen.speech.voice import PhonemeTiming

JAW, CLOSURE = MOUTH_PARAMETERS.index("jaw_open"), MOUTH_PARAMETERS.index("lip_closure")
FPS = 25
LEAD_S = 0.6  # silence put before the sentence


@pytest.fixture(scope="module")
def spoken(tts_default):
    """One TTS sentence rich in bilabials, after LEAD_S of silence, with its known timing."""
    text = "Bob parked by the blue mailbox."
    chunk = next(iter(tts_default.stream(text, emotion="happy", intensity=0.8, generator=3)))
    lead = np.zeros(round(LEAD_S * chunk.sample_rate), dtype=np.float32)
    audio = np.concatenate([lead, chunk.audio])
    truth = [PhonemeTiming(t.phoneme, t.start + LEAD_S, t.end + LEAD_S) for t in chunk.alignment]
    return text, audio, chunk.sample_rate, truth


def test_audio_only_track_follows_the_known_timing(spoken):
    _, audio, rate, truth = spoken
    times = np.arange(0.0, len(audio) / rate, 1 / FPS)
    known = mouth_track(truth, times)
    estimated = mouth_track_from_audio(audio, rate, times)
    assert estimated.shape == (len(times), len(MOUTH_PARAMETERS))
    # Measured on this sentence: r = 0.99, RMSE 0.06 (benchmarks/talking_head: 0.94 over 20
    # held-out TTS sentences, 0.69 on espeak-ng's voice; a loudness envelope reaches 0.3-0.4).
    assert np.corrcoef(known[:, JAW], estimated[:, JAW])[0, 1] > 0.85
    assert np.sqrt(np.mean((known - estimated) ** 2)) < 0.1
    # The leading silence keeps the mouth at rest.
    quiet = times < LEAD_S - 0.1
    assert (estimated[quiet, JAW] < 0.05).all() and (estimated[quiet, CLOSURE] > 0.9).all()


@pytest.fixture(scope="module")
def recognised(spoken) -> list[tuple[str, float, float]]:
    from emogen.eval.speech import transcribe_words

    return transcribe_words(spoken[1], spoken[2])


@pytest.fixture
def recognised_once(recognised, monkeypatch):
    """Whisper run once for the sentence, its words then reused (the decoding is
    deterministic), so the tests below do not pay for it again."""
    from emogen.eval import speech

    monkeypatch.setattr(speech, "transcribe_words", lambda *args, **kwargs: recognised)
    return recognised


def test_bilabial_closures_land_near_the_true_ones(spoken, recognised_once):
    text, audio, rate, truth = spoken
    # Whisper hears "Bob Park by the Blue mailbox."; the transcript's "parked" takes "Park"'s time.
    assert [w for w, _, _ in recognised_once][:2] == ["Bob", "Park"]
    alignment = align_audio(audio, rate, transcript=text)
    true_closures = [(s + e) / 2 for v, s, e in viseme_segments(truth) if v == "PBM"]
    found = [(s + e) / 2 for v, s, e in viseme_segments(alignment) if v == "PBM"]
    assert len(true_closures) >= 5 and len(found) == len(true_closures)
    # Within one video frame at 25 fps (measured: at most 7 ms off here).
    assert np.abs(np.array(found) - np.array(true_closures)).max() < 0.04
    # and the lips close there.
    times = np.array(true_closures)
    assert (mouth_track(alignment, times)[:, CLOSURE] > 0.6).all()


def test_words_method_is_looser_but_follows(spoken, recognised_once):
    # Whisper's word spans shared among their phonemes (measured r = 0.69 here).
    _, audio, rate, truth = spoken
    times = np.arange(0.0, len(audio) / rate, 1 / FPS)
    known = mouth_track(truth, times)
    by_words = mouth_track(align_audio(audio, rate, method="words"), times)
    assert np.corrcoef(known[:, JAW], by_words[:, JAW])[0, 1] > 0.5
    assert (by_words[times < LEAD_S - 0.1, JAW] < 0.05).all()


def test_silence_gives_the_mouth_at_rest():
    rate = 16000
    times = np.arange(0.0, 1.0, 1 / FPS)
    for silence in (np.zeros(rate, np.float32), np.full(rate, 1e-5, np.float32)):
        assert align_audio(silence, rate) == []
        track = mouth_track_from_audio(silence, rate, times)
        assert np.allclose(track, np.array(VISEMES["rest"])[None])


def test_speech_regions_split_at_pauses_not_at_stop_closures():
    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    gap = lambda seconds: np.zeros(round(seconds * rate), np.float32)  # noqa: E731
    # 0.2 s silence | 0.3 s sound | 0.08 s closure | 0.3 s sound | 0.4 s pause | 0.2 s sound
    audio = np.concatenate(
        [gap(0.2), tone[:4800], gap(0.08), tone[:4800], gap(0.4), tone[:3200], gap(0.2)]
    )
    regions = speech_regions(audio, rate)
    assert len(regions) == 2
    # Edges within half an analysis window (12.5 ms) and a frame (10 ms).
    (a, b), (c, d) = regions
    assert abs(a - 0.2) < 0.025 and abs(b - 0.88) < 0.025
    assert abs(c - 1.28) < 0.025 and abs(d - 1.48) < 0.025


def test_transcript_words_take_the_recognised_times():
    recognised = [("The", 0.1, 0.2), ("dig", 0.2, 0.5), ("barked.", 0.5, 0.9)]
    words = _match_transcript(["the", "big", "dog", "barked"], recognised, [(0.1, 0.9)])
    assert [w for w, _, _ in words] == ["the", "big", "dog", "barked"]
    # "dig" takes the place of "big" or "dog" (a substitution, equally cheap); the missed word
    # shares the time between its neighbours with them. Matched "barked" keeps its time.
    bounds = [t for _, start, end in words for t in (start, end)]
    assert bounds[0] == 0.1 and words[-1][1:] == (0.5, 0.9)
    assert all(b - a > 0.05 for a, b in zip(bounds[::2], bounds[1::2]))
    assert all(a == pytest.approx(b) for a, b in zip(bounds[1:-1:2], bounds[2::2]))


def test_words_share_their_span_by_inherent_duration():
    timings = _spread("bˈɪɡ", 1.0, 1.3)
    assert [t.phoneme for t in timings] == ["b", "ɪ", "ɡ"]
    assert timings[0].start == 1.0 and timings[-1].end == pytest.approx(1.3)
    lengths = [t.end - t.start for t in timings]
    assert lengths[1] > lengths[0] and lengths[1] > lengths[2]  # the vowel is longest
    equal = [t.end - t.start for t in _spread("bˈɪɡ", 1.0, 1.3, "equal")]
    assert np.allclose(equal, 0.1)


def test_bad_inputs_raise():
    rate = 16000
    speech = np.random.default_rng(0).normal(0, 0.1, rate).astype(np.float32)
    times = np.arange(0.0, 1.0, 1 / FPS)
    with pytest.raises(EmogenError, match="empty"):
        align_audio(np.zeros(0, np.float32), rate)
    with pytest.raises(EmogenError, match="shape"):
        align_audio(np.zeros((2, 3, 4), np.float32), rate)
    with pytest.raises(EmogenError, match="numpy array"):
        align_audio([0.1, 0.2], rate)
    with pytest.raises(EmogenError, match="NaN"):
        align_audio(np.full(rate, np.nan, np.float32), rate)
    for bad_rate in (0, -16000, "16000", 16000.5):
        with pytest.raises(EmogenError, match=r"sample_rate|sample rate"):
            align_audio(speech, bad_rate)
        with pytest.raises(EmogenError, match=r"sample_rate|sample rate"):
            align_audio(np.zeros(rate, np.float32), bad_rate)
    with pytest.raises(EmogenError, match="transcript"):
        align_audio(speech, rate, transcript=5)
    with pytest.raises(EmogenError, match="method"):
        align_audio(speech, rate, method="phonemes")
    with pytest.raises(EmogenError, match="1-D"):
        mouth_track_from_audio(speech, rate, times[None])


def test_known_timing_rests_in_the_audios_pauses():
    from emogen.face.audio_timing import rest_in_pauses

    rate = 16000
    tone = 0.3 * np.sin(np.arange(rate // 2) * 0.3).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(rate // 2, np.float32), tone])  # 0.5 s pause at 0.5
    # The "a" runs 0.3 s into the pause, as a synthesiser's last phoneme of a sentence can.
    alignment = [PhonemeTiming(p, s, e) for p, s, e in (("m", 0.0, 0.2), ("a", 0.2, 0.8),
                                                          ("ə", 1.05, 1.4))]  # fmt: skip
    fixed = rest_in_pauses(alignment, audio, rate)
    vowel = next(t for t in fixed if t.phoneme == "a")
    rest = next(t for t in fixed if t.phoneme == ".")
    assert abs(vowel.end - 0.5) < 0.03 and abs(rest.start - 0.5) < 0.03 and rest.end > 0.95
    times = np.arange(0.0, 1.5, 0.04)
    track = mouth_track(fixed, times)
    assert (track[(times > 0.6) & (times < 0.9), CLOSURE] > 0.9).all()


def test_pause_weights_cover_the_pauses_only():
    from emogen.face.audio_timing import pause_weights

    rate = 16000
    tone = 0.3 * np.sin(np.arange(rate // 2) * 0.3).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(rate // 2, np.float32), tone])
    times = np.arange(0.0, 1.5, 0.02)
    weights = pause_weights(audio, rate, times)
    assert (weights[(times > 0.6) & (times < 0.9)] == 1).all()
    assert (weights[(times < 0.45) | (times > 1.05)] == 0).all()
    assert (pause_weights(np.zeros(rate, np.float32), rate, times) == 1).all()
