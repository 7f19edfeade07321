"""EmotionalTTSPipeline and EmotionalVCPipeline: the shipped pipelines, with the real joe voice.

Both pipelines are loaded once per module by short name; sentences are kept short. Pitch is
measured on WORLD re-analysis of the output. On joe's voice WORLD's F0 tracker halves or doubles
some frames, so the tests compare medians, pair frames where the timing is kept, and use margins
well above that noise.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly, welch

from emogen.emotion import Emotion
from emogen.errors import EmogenError
from emogen.pipelines import (
    SHIPPED_DIR,
    EmotionalSpeechOutput,
    EmotionalTTSPipeline,
    EmotionalVCPipeline,
    load_pipeline,
)
from emogen.speech.prosody import prosody_features
from emogen.speech.renderer import EmotionRenderer
from emogen.speech.world import WorldVocoder

SENTENCE = "The weather is lovely today."
HAPPY_THEN_SAD = "I am so happy, this is wonderful! My dog died and I feel terrible."
THREE_SENTENCES = "Hello there. How are you? Good night."


@pytest.fixture(scope="module")
def tts() -> EmotionalTTSPipeline:
    pipe = load_pipeline("tts-default")
    pipe.set_progress_bar_config(disable=True)
    pipe("Hi.", generator=0)  # build the voice's onnxruntime session once
    return pipe


@pytest.fixture(scope="module")
def vc() -> EmotionalVCPipeline:
    return load_pipeline("vc-default")


@pytest.fixture(scope="module")
def speak(tts):
    """`speak(emotion)`: SENTENCE spoken with generator=0, cached across tests."""
    cache: dict[str, np.ndarray] = {}

    def run(emotion: str) -> np.ndarray:
        if emotion not in cache:
            cache[emotion] = tts(SENTENCE, emotion=emotion, generator=0).audios[0]
        return cache[emotion]

    return run


@pytest.fixture(scope="module")
def neutral(speak, tts) -> tuple[np.ndarray, int]:
    """Neutral speech to convert: the input of the voice-conversion tests."""
    return speak("neutral"), tts.voice.sample_rate


def median_semitones(f0: np.ndarray) -> float:
    """Median F0 in semitones re 100 Hz over the voiced frames of an F0 track."""
    return float(np.median(12 * np.log2(f0[f0 > 0] / 100)))


def f0_track(audio: np.ndarray, rate: int) -> np.ndarray:
    return WorldVocoder().analyze(audio, rate).f0


def paired_shift(before: np.ndarray, after: np.ndarray, rate: int) -> float:
    """Median F0 change in semitones over frames voiced in both (same-length audio)."""
    vocoder = WorldVocoder()
    first, second = vocoder.analyze(before, rate), vocoder.analyze(after, rate)
    both = first.voiced & second.voiced
    return float(np.median(12 * np.log2(second.f0[both] / first.f0[both])))


def first_half_minus_second_half(audio: np.ndarray, rate: int) -> float:
    f0 = f0_track(audio, rate)
    half = len(f0) // 2
    return median_semitones(f0[:half]) - median_semitones(f0[half:])


def long_term_spectrum_db(audio: np.ndarray, rate: int) -> np.ndarray:
    _, power = welch(audio, rate, nperseg=1024)
    return 10 * np.log10(power + 1e-12)


# ---------------------------------------------------------------------- loading and saving


def test_short_names_load_the_shipped_pipelines(tts, vc):
    assert isinstance(tts, EmotionalTTSPipeline) and isinstance(vc, EmotionalVCPipeline)
    assert tts.config.max_characters == 5000 and vc.config.max_seconds == 600.0
    by_path = load_pipeline(SHIPPED_DIR / "vc-default")
    assert isinstance(by_path, EmotionalVCPipeline)
    assert by_path.renderer.config.profiles == vc.renderer.config.profiles


@pytest.mark.parametrize("cls", [EmotionalTTSPipeline, EmotionalVCPipeline])
def test_shipped_folders_match_the_defaults_built_in_code(cls):
    name = "tts-default" if cls is EmotionalTTSPipeline else "vc-default"
    shipped, built = load_pipeline(name), cls.from_default()

    def settings(config) -> dict:
        return {k: v for k, v in dict(config).items() if not k.startswith("_")}

    for component in ("vocoder", "renderer"):
        assert settings(getattr(shipped, component).config) == settings(
            getattr(built, component).config
        )
    assert settings(shipped.config) == settings(built.config)


def test_unknown_pipeline_name_is_an_error_with_close_matches():
    with pytest.raises(EmogenError, match=r"Did you mean 'tts-default'") as error:
        load_pipeline("tts-defualt")
    known = (
        "avatar, dialogue, talking-head, tts-codec-lm, tts-default, tts-diffusion, vc-default, "
        "vc-diffusion"
    )
    assert f"Known: {known}" in str(error.value)


def test_tts_save_load_round_trip_gives_identical_audio(tts, tmp_path):
    custom = EmotionalTTSPipeline(
        voice=tts.voice,
        vocoder=WorldVocoder(f0_ceil=400.0),
        renderer=EmotionRenderer(tremor_hz=6.0),
        max_characters=300,
        sentence_pause_s=0.2,
    )
    custom.save_pretrained(tmp_path)
    for folder in ("voice", "vocoder", "renderer"):
        assert (tmp_path / folder).is_dir()
    loaded = load_pipeline(tmp_path)
    assert isinstance(loaded, EmotionalTTSPipeline)
    assert loaded.config.max_characters == 300 and loaded.config.sentence_pause_s == 0.2
    assert loaded.vocoder.config.f0_ceil == 400.0 and loaded.renderer.config.tremor_hz == 6.0
    text, emotion = "Hello there. Good night.", "afraid:0.7"  # afraid has jitter and tremor
    expected = custom(text, emotion=emotion, generator=5).audios[0]
    np.testing.assert_array_equal(loaded(text, emotion=emotion, generator=5).audios[0], expected)


def test_vc_save_load_round_trip_gives_identical_audio(vc, neutral, tmp_path):
    audio, rate = neutral
    custom = EmotionalVCPipeline(
        vocoder=WorldVocoder(frame_period_ms=4.0),
        renderer=EmotionRenderer(profiles={"sad": {"pitch_shift_st": -2.0, "jitter_percent": 1}}),
        max_seconds=30.0,
    )
    custom.save_pretrained(tmp_path)
    loaded = EmotionalVCPipeline.from_pretrained(tmp_path)
    assert loaded.config.max_seconds == 30.0 and loaded.vocoder.config.frame_period_ms == 4.0
    assert loaded.renderer.config.profiles == {"sad": {"pitch_shift_st": -2.0, "jitter_percent": 1}}
    expected = custom(audio, emotion="sad", sample_rate=rate, generator=3).audios[0]
    got = loaded(audio, emotion="sad", sample_rate=rate, generator=3).audios[0]
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------- text to speech


def test_output_is_float32_speech_at_the_voice_rate(tts, speak):
    audio = speak("neutral")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.isfinite(audio).all() and 0.01 < np.abs(audio).max() <= 1.0
    assert 0.8 < len(audio) / tts.voice.sample_rate < 4.0


def test_batch_equals_single(tts, speak):
    texts = [SENTENCE, "Good night, friend."]
    batch = tts(texts, emotion="happy:0.5", generator=0)
    assert len(batch.audios) == 2 and batch.sentences == [[texts[0]], [texts[1]]]
    np.testing.assert_array_equal(batch.audios[0], speak("happy:0.5"))
    alone = tts(texts[1], emotion="happy:0.5", generator=0).audios[0]
    np.testing.assert_array_equal(batch.audios[1], alone)


def test_same_seed_same_audio_other_seed_other_audio(tts, speak):
    np.testing.assert_array_equal(tts(SENTENCE, generator=0).audios[0], speak("neutral"))
    torch_seed = tts(SENTENCE, generator=torch.Generator().manual_seed(0)).audios[0]
    np.testing.assert_array_equal(torch_seed, speak("neutral"))
    other = tts(SENTENCE, generator=1).audios[0]
    assert len(other) != len(speak("neutral")) or not np.array_equal(other, speak("neutral"))


def test_different_emotions_give_different_prosody(tts, speak):
    rate = tts.voice.sample_rate
    prosody = {e: prosody_features(speak(e), rate) for e in ("neutral", "happy", "sad", "angry")}
    # Murray & Arnott 1993: happy and angry much higher than sad
    assert prosody["happy"].f0_mean_semitones - prosody["sad"].f0_mean_semitones > 2.0
    assert prosody["angry"].f0_mean_semitones - prosody["neutral"].f0_mean_semitones > 2.0
    assert prosody["sad"].energy_db < prosody["neutral"].energy_db - 2.0
    assert prosody["angry"].energy_db > prosody["sad"].energy_db + 4.0
    # sad is slower (longer), happy and angry faster (shorter) than neutral
    assert prosody["sad"].duration_s > 1.05 * prosody["neutral"].duration_s
    assert prosody["happy"].duration_s < 0.97 * prosody["neutral"].duration_s
    assert prosody["angry"].duration_s < 0.97 * prosody["neutral"].duration_s


def test_intensity_replaces_the_emotions_intensity(tts, speak):
    np.testing.assert_array_equal(
        tts(SENTENCE, "happy", intensity=0.0, generator=0).audios[0], speak("neutral")
    )
    np.testing.assert_array_equal(
        tts(SENTENCE, "happy", intensity=0.5, generator=0).audios[0], speak("happy:0.5")
    )
    rate = tts.voice.sample_rate
    lengths = [len(speak(e)) / rate for e in ("neutral", "sad:0.5", "sad")]
    assert lengths[0] < lengths[1] < lengths[2]  # the slowing grows with intensity


def test_a_curve_switches_emotion_inside_one_utterance(tts, speak):
    rate = tts.voice.sample_rate
    end = len(speak("neutral")) / rate  # the curve runs over seconds of the neutral rendering
    forward = tts(SENTENCE, emotion=f"happy@0 -> sad@{end:.2f}", generator=0).audios[0]
    backward = tts(SENTENCE, emotion=f"sad@0 -> happy@{end:.2f}", generator=0).audios[0]
    # The sentence falls by itself (declination); against that, happy -> sad falls more from
    # the first half to the second, and sad -> happy less.
    natural_drop = first_half_minus_second_half(speak("neutral"), rate)
    forward_drop = first_half_minus_second_half(forward, rate)
    backward_drop = first_half_minus_second_half(backward, rate)
    assert forward_drop > natural_drop + 0.5 and backward_drop < natural_drop - 0.5
    assert forward_drop - backward_drop > 3.0


def test_intensity_applies_to_a_curve_over_seconds(tts, speak):
    audio = tts(SENTENCE, emotion="happy@0 -> sad@1", intensity=0.0, generator=0).audios[0]
    np.testing.assert_array_equal(audio, speak("neutral"))


def test_one_emotion_per_sentence(tts):
    rate = tts.voice.sample_rate
    happy_first = list(tts.stream(HAPPY_THEN_SAD, ["happy", "sad"], generator=0))
    sad_first = list(tts.stream(HAPPY_THEN_SAD, ["sad", "happy"], generator=0))
    assert [c.sentence for c in happy_first] == [
        "I am so happy, this is wonderful!",
        "My dog died and I feel terrible.",
    ]
    assert [c.emotion.category for c in happy_first] == ["happy", "sad"]
    # the emotion follows the sentence: each sentence is higher when it is the happy one
    for index, sign in ((0, 1), (1, -1)):
        happy = median_semitones(f0_track(happy_first[index].audio, rate))
        difference = happy - median_semitones(f0_track(sad_first[index].audio, rate))
        assert sign * difference > 2.0
    # a sentence curve through the same emotions names the same emotion for each sentence
    sentences = [c.sentence for c in happy_first]
    by_curve = tts.sentence_emotions(sentences, "happy@#0 -> sad@#1", None)
    assert by_curve == tts.sentence_emotions(sentences, ["happy", "sad"], None)


def test_a_sentence_curve_interpolates_between_sentences(tts):
    sentences = ["Hello there.", "How are you?", "Good night."]
    emotions = tts.sentence_emotions(sentences, "happy@#0 -> sad@#2", None)
    assert [e.category for e in (emotions[0], emotions[2])] == ["happy", "sad"]
    assert {name for name, _ in emotions[1].mixture} == {"happy", "sad"}


@pytest.mark.parametrize("emotions", [["happy"], ["happy", "sad", "angry"]])
def test_wrong_number_of_sentence_emotions_is_an_error(tts, emotions):
    with pytest.raises(EmogenError, match=rf"got {len(emotions)} emotions for 2 sentences"):
        tts(HAPPY_THEN_SAD, emotion=emotions)


def test_auto_follows_the_text_of_each_sentence(tts):
    out = tts(HAPPY_THEN_SAD, emotion="auto", generator=0)
    assert [e.category for e in out.emotions[0]] == ["happy", "sad"]
    assert out.emotions[0][0].intensity > 0.5 and out.emotions[0][1].intensity > 0.5


def test_streaming_yields_each_sentence_and_joins_into_the_call(tts):
    chunks = list(tts.stream(THREE_SENTENCES, emotion="sad", generator=7))
    assert [c.sentence for c in chunks] == ["Hello there.", "How are you?", "Good night."]
    assert [c.index for c in chunks] == [0, 1, 2]
    # the first chunk is ready before the later sentences are spoken
    first = next(tts.stream(THREE_SENTENCES, emotion="sad", generator=7))
    np.testing.assert_array_equal(first.audio, chunks[0].audio)
    assert all(
        c.sample_rate == tts.voice.sample_rate and c.emotion.category == "sad" for c in chunks
    )
    whole = tts(THREE_SENTENCES, emotion="sad", generator=7).audios[0]
    np.testing.assert_array_equal(np.concatenate([c.audio for c in chunks]), whole)
    # every chunk but the last ends with the sentence pause (longer for sad: pause_log2 > 0)
    pause = round(tts.config.sentence_pause_s * tts.voice.sample_rate)
    for chunk in chunks[:-1]:
        assert not chunk.audio[-pause:].any()
    assert chunks[-1].audio[-pause:].any()


def test_stream_chunks_time_their_phonemes_after_the_emotion(tts):
    text = "We walked along the river until the sun went down."
    neutral = next(iter(tts.stream(text, emotion="neutral", generator=0)))
    slow = next(iter(tts.stream(text, emotion="sad", generator=0)))
    for chunk in (neutral, slow):
        spans = np.array([[t.start, t.end] for t in chunk.alignment])
        assert (np.diff(spans.ravel()) >= -1e-9).all()  # in order, no overlap
        assert spans[-1, 1] <= len(chunk.audio) / chunk.sample_rate + 1e-9
    assert [t.phoneme for t in slow.alignment] == [t.phoneme for t in neutral.alignment]

    def spoken_s(chunk) -> float:
        return chunk.alignment[-1].end - chunk.alignment[0].start

    assert spoken_s(slow) > 1.05 * spoken_s(neutral)  # sad speaks slower (rate_log2 < 0)


def test_output_types_and_tuple_return(tts, speak):
    pt = tts(SENTENCE, generator=0, output_type="pt")
    assert isinstance(pt, EmotionalSpeechOutput)
    assert isinstance(pt.audios[0], torch.Tensor) and pt.audios[0].dtype == torch.float32
    np.testing.assert_array_equal(pt.audios[0].numpy(), speak("neutral"))
    audios, rate = tts(SENTENCE, generator=0, return_dict=False)
    assert rate == tts.voice.sample_rate
    np.testing.assert_array_equal(audios[0], speak("neutral"))
    with pytest.raises(EmogenError, match="output_type"):
        tts(SENTENCE, output_type="pil")


# ---------------------------------------------------------------------- voice conversion


def test_vc_keeps_the_speaker_and_moves_pitch_the_targets_way(vc, neutral):
    audio, rate = neutral
    for emotion, low, high in (("angry", 2.0, 6.0), ("happy", 1.0, 5.0), ("sad", -2.0, -0.3)):
        out = vc(audio, emotion, 0.7, source_emotion="neutral", sample_rate=rate, generator=0)
        converted = out.audios[0]
        assert out.sample_rate == rate and converted.dtype == np.float32
        assert 0.8 < len(converted) / len(audio) < 1.25  # the rate change is modest
        correlation = np.corrcoef(
            long_term_spectrum_db(audio, rate), long_term_spectrum_db(converted, rate)
        )
        assert correlation[0, 1] > 0.9
        kept = vc(
            audio,
            emotion=emotion,
            intensity=0.7,
            source_emotion="neutral",
            sample_rate=rate,
            preserve_duration=True,
            generator=0,
        )
        assert len(kept.audios[0]) == len(audio)
        assert low < paired_shift(audio, kept.audios[0], rate) < high


def test_vc_speaker_similarity_stays_high(vc, neutral):
    from emogen.eval.speech import speaker_similarity

    audio, rate = neutral
    for emotion in ("sad", "angry"):
        converted = vc(audio, emotion=emotion, intensity=0.7, sample_rate=rate, generator=0).audios[
            0
        ]
        assert speaker_similarity(audio, rate, converted, rate) > 0.8


@pytest.mark.slow
def test_vc_keeps_the_words(tts, vc):
    from emogen.eval.speech import wer

    text = "Please call Stella and ask her to bring these things with her from the store."
    audio = tts(text, generator=0).audios[0]
    rate = tts.voice.sample_rate
    baseline = wer(audio, rate, text)
    for emotion in ("sad", "angry", "happy", "afraid"):
        converted = vc(audio, emotion=emotion, intensity=0.7, sample_rate=rate, generator=0)
        assert wer(converted.audios[0], rate, text) <= baseline + 0.1


def test_vc_neutral_target_is_the_plain_resynthesis(vc, neutral):
    audio, rate = neutral
    out = vc(audio, "angry", 0.0, source_emotion="neutral", sample_rate=rate, generator=0).audios[0]
    # The plain resynthesis at the input's level (the renderer restores the voiced level).
    plain = vc.vocoder.synthesize(vc.vocoder.analyze(audio, rate))
    np.testing.assert_allclose(out, np.dot(out, plain) / np.dot(plain, plain) * plain, atol=1e-5)
    same = vc(audio, emotion="sad", source_emotion="sad", sample_rate=rate, generator=0).audios[0]
    np.testing.assert_array_equal(same, out)


def test_vc_estimates_the_source_emotion_by_default(tts, vc):
    text = "We packed the car early and drove to the coast before the roads got busy."
    rate = tts.voice.sample_rate
    sad = tts(text, emotion="sad", generator=3).audios[0]
    out = vc(sad, emotion="neutral", sample_rate=rate, generator=0)
    estimated = out.source_emotions[0]
    assert not estimated.is_neutral and estimated.vad[1] < 0  # read as a low-arousal emotion
    # The estimate is what gets taken out: the same as passing it, and it undoes part of the
    # sad rendering's lower pitch.
    given = vc(sad, emotion="neutral", source_emotion=estimated, sample_rate=rate, generator=0)
    np.testing.assert_array_equal(out.audios[0], given.audios[0])
    plain = vc(sad, emotion="neutral", source_emotion="neutral", sample_rate=rate)
    assert plain.source_emotions[0].is_neutral
    kept = vc(sad, "neutral", sample_rate=rate, preserve_duration=True, generator=0).audios[0]
    assert paired_shift(sad, kept, rate) > 0.3


def test_vc_shows_progress_on_long_inputs(vc, neutral, monkeypatch, capsys):
    from emogen.pipelines import vc as vc_module

    audio, rate = neutral
    vc(audio, emotion="sad", sample_rate=rate)
    assert "vc" not in capsys.readouterr().err  # short: no bar
    monkeypatch.setattr(vc_module, "LONG_INPUT_S", 0.5)
    vc(audio, emotion="sad", sample_rate=rate)
    shown = capsys.readouterr().err
    # Each stage names itself (tqdm may skip the final 100 % frame of a fast bar it then clears).
    assert "vc:" in shown and "analysing" in shown and "rendering" in shown


def test_vc_source_emotion_is_taken_out(vc, neutral):
    audio, rate = neutral
    calmed = vc(
        audio,
        emotion="neutral",
        source_emotion="angry:0.7",
        sample_rate=rate,
        preserve_duration=True,
        generator=0,
    )
    assert paired_shift(audio, calmed.audios[0], rate) < -1.5


def test_vc_accepts_arrays_tuples_stereo_and_files_at_any_rate(vc, neutral, tmp_path):
    audio, rate = neutral
    reference = vc(audio, emotion="angry", sample_rate=rate, generator=0).audios[0]
    same_input = [
        (rate, audio),  # Gradio's tuple
        (audio, rate),
        np.stack([audio, audio], axis=1),  # stereo (T, 2)
        np.stack([audio, audio], axis=0),  # stereo (2, T), as torch gives
    ]
    for item in same_input:
        out = vc(item, emotion="angry", sample_rate=rate, generator=0)
        assert out.sample_rate == rate
        np.testing.assert_allclose(out.audios[0], reference, atol=1e-5)
    # files: reading one equals passing its decoded samples (downmixed) with its rate
    soundfile.write(tmp_path / "speech.wav", audio, rate, subtype="PCM_16")
    soundfile.write(tmp_path / "speech.flac", audio, rate, subtype="PCM_16")
    soundfile.write(tmp_path / "stereo.wav", np.stack([audio, 0.5 * audio], 1), rate)
    for name in ("speech.wav", "speech.flac", "stereo.wav"):
        path = tmp_path / name
        decoded, file_rate = soundfile.read(path, dtype="float32")
        from_file = vc(str(path), emotion="angry", generator=0)
        as_array = vc(decoded, emotion="angry", sample_rate=file_rate, generator=0)
        assert from_file.sample_rate == rate
        np.testing.assert_array_equal(from_file.audios[0], as_array.audios[0])
        # 16-bit rounding can flip WORLD's voicing of near-silent frames, hence a tolerance
        assert abs(len(from_file.audios[0]) - len(reference)) <= 0.04 * len(reference)


@pytest.mark.parametrize("new_rate", [16000, 44100])
def test_vc_keeps_other_sample_rates(vc, neutral, tmp_path, new_rate):
    audio, rate = neutral
    resampled = resample_poly(audio, new_rate // 50, rate // 50).astype(np.float32)
    path = tmp_path / f"speech_{new_rate}.wav"
    soundfile.write(path, resampled, new_rate)
    out = vc(path, emotion="angry", intensity=0.7, preserve_duration=True, generator=0)
    assert out.sample_rate == new_rate and len(out.audios[0]) == len(resampled)
    assert paired_shift(resampled, out.audios[0], new_rate) > 2.0


@pytest.mark.parametrize("extension", ["ogg", "mp3"])
def test_vc_reads_compressed_files(vc, neutral, tmp_path, extension):
    if extension.upper() not in {f.upper() for f in soundfile.available_formats()}:
        pytest.skip(f"this libsndfile cannot write {extension}")
    audio, rate = neutral
    path = tmp_path / f"speech.{extension}"
    soundfile.write(path, audio, rate)
    out = vc(path, emotion="sad", preserve_duration=True, generator=0)
    decoded = soundfile.read(path, dtype="float32")[0]
    assert out.sample_rate == rate and len(out.audios[0]) == len(decoded)
    assert abs(len(decoded) - len(audio)) < 0.1 * rate


def test_vc_curve_batch_and_output_types(vc, neutral):
    audio, rate = neutral
    curve = vc(audio, emotion="happy@0 -> sad@1.5", sample_rate=rate, generator=0)
    assert curve.emotions[0][0].category == "sad"
    batch = vc([audio, audio[:rate]], emotion="angry", sample_rate=rate, generator=0)
    for item, converted in zip([audio, audio[:rate]], batch.audios):
        np.testing.assert_array_equal(
            converted, vc(item, emotion="angry", sample_rate=rate, generator=0).audios[0]
        )
    audios, out_rate = vc(
        audio, emotion="angry", sample_rate=rate, generator=0, output_type="pt", return_dict=False
    )
    assert out_rate == rate and isinstance(audios[0], torch.Tensor)
    np.testing.assert_array_equal(audios[0].numpy(), batch.audios[0])


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "empty or only whitespace"),
        ("  \n\t ", {}, "empty or only whitespace"),
        ([], {}, "empty list"),
        (["Hello.", "   "], {}, "empty or only whitespace"),
        ("♪♪♪", {}, "can be spoken"),
        ("Hello.", {"emotion": "hapy"}, "unknown emotion.*Did you mean 'happy'"),
        ("Hello.", {"emotion": "happy@0 -> sda@1"}, "sda"),
        ("Hello.", {"intensity": 1.5}, r"intensity must be in \[0, 1\]"),
        ("Hello.", {"intensity": -0.1}, r"intensity must be in \[0, 1\]"),
        ("Hello.", {"intensity": float("nan")}, r"intensity must be in \[0, 1\]"),
        ("Hello.", {"generator": -1}, "seed must be >= 0"),
        ("Hello.", {"generator": "seed"}, "generator must be"),
    ],
)
def test_bad_tts_input_is_a_clear_error(tts, text, kwargs, message):
    with pytest.raises(EmogenError, match=message):
        tts(text, **kwargs)


def test_text_over_the_limit_is_an_error(tts):
    small = EmotionalTTSPipeline(tts.voice, tts.vocoder, tts.renderer, max_characters=20)
    assert len(small("Short and fine.", generator=0).audios[0]) > 0
    with pytest.raises(EmogenError, match="38 characters, over the limit of 20"):
        small("This text is a bit longer than twenty.")
    with pytest.raises(EmogenError, match="over the limit of 5000"):
        tts("word " * 1001)


def test_bad_files_are_clear_errors(vc, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not really a wave file" * 4)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(22050, np.float32), 22050)
    cases = [
        (tmp_path / "missing.wav", "not found"),
        (corrupt, "cannot read audio file"),
        (empty, "empty"),
        (silent, "silent"),
        (tmp_path, "folder"),
    ]
    for path, message in cases:
        with pytest.raises(EmogenError, match=message):
            vc(path, emotion="sad")


def test_bad_arrays_and_arguments_are_clear_errors(vc, neutral):
    audio, rate = neutral
    cases = [
        ({"audio": np.zeros(rate, np.float32), "sample_rate": rate}, "silent"),
        ({"audio": np.zeros(0, np.float32), "sample_rate": rate}, "empty"),
        ({"audio": audio}, "needs its sample rate"),
        ({"audio": audio, "sample_rate": rate, "emotion": "sda"}, "Did you mean 'sad'"),
        ({"audio": audio, "sample_rate": rate, "intensity": 2.0}, r"intensity must be in \[0, 1\]"),
        ({"audio": audio, "sample_rate": rate, "emotion": ["sad", "happy"]}, "one emotion"),
        ({"audio": audio, "sample_rate": rate, "emotion": "happy@#0 -> sad@#1"}, "seconds"),
        ({"audio": [], "sample_rate": rate}, "empty list"),
        ({"audio": 3.0, "sample_rate": rate}, "file path, a numpy array"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("emotion", "sad")
        with pytest.raises(EmogenError, match=message):
            vc(**kwargs)


def test_audio_over_the_duration_limit_is_an_error(vc, neutral, tmp_path):
    audio, rate = neutral
    short = EmotionalVCPipeline(vc.vocoder, vc.renderer, max_seconds=1.0)
    assert short(audio[: rate // 2], emotion="sad", sample_rate=rate, generator=0).audios[0].size
    with pytest.raises(EmogenError, match="over the limit of 1 s"):
        short(audio, emotion="sad", sample_rate=rate)
    path = tmp_path / "long.wav"
    soundfile.write(path, audio, rate)
    with pytest.raises(EmogenError, match="over the limit of 1 s"):
        short(path, emotion="sad")


def test_a_batch_of_mixed_sample_rates_is_an_error(vc, neutral):
    audio, rate = neutral
    other = resample_poly(audio, 320, 441).astype(np.float32)
    with pytest.raises(EmogenError, match="one sample rate"):
        vc([(rate, audio), (16000, other)], emotion="sad")


def test_emotion_objects_are_accepted(tts, vc, neutral, speak):
    audio, rate = neutral
    happy = Emotion.parse("happy:0.5")
    np.testing.assert_array_equal(
        tts(SENTENCE, emotion=happy, generator=0).audios[0], speak("happy:0.5")
    )
    out = vc(audio, emotion=happy, sample_rate=rate, generator=0)
    assert out.emotions == [[happy]]
