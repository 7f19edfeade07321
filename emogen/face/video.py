"""MP4 in and out: frames streamed to H.264 + AAC through imageio-ffmpeg's static ffmpeg, and the
probes the tests and benchmarks read videos back with.

Frames go to the encoder one at a time (memory stays flat with clip length), into a hidden
temporary file beside the target that is renamed only when ffmpeg has finished
(`emogen._files.atomic_path`), so a failure leaves no half-written MP4.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .._files import atomic_path
from ..errors import EmogenError
from ..speech.audio import save_audio

__all__ = ["probe_video", "read_video", "write_video"]

logger = logging.getLogger(__name__)

# x264 at a constant quality (CRF 18: visually near-lossless), yuv420p for players everywhere,
# +faststart so browsers can play while downloading; AAC at 128 kb/s.
_VIDEO_OPTIONS = ["-crf", "18", "-preset", "veryfast", "-movflags", "+faststart"]
_AUDIO_BITRATE = "128k"


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    total: int | None = None,
    progress: bool = True,
) -> Path:
    """Encode RGB frames (and mono audio) to an H.264 + AAC MP4 at `path`.

    Args:
        path: the output file (its folder is created; ".mp4" is expected).
        frames: `(H, W, 3)` uint8 RGB frames, all the same size with even sides, consumed one
            at a time.
        fps: frames per second.
        audio: `(N,)` float waveform in [-1, 1], muxed as AAC; None for a silent video.
        sample_rate: the audio's rate in Hz.
        total: the number of frames, for the progress bar.
        progress: show a progress bar.

    Returns:
        The path written.

    Raises:
        EmogenError: no frames, frames of the wrong shape or changing size, or ffmpeg failing
            (the partial file is removed).
    """
    import imageio_ffmpeg

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise EmogenError(f"the talking head writes MP4 files: {path} does not end in .mp4")
    if audio is not None and not sample_rate:
        raise EmogenError("write_video needs sample_rate with audio")
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="emogen-video-") as scratch,
        atomic_path(path) as partial,
    ):
        audio_path = None
        if audio is not None:
            audio_path = str(save_audio(Path(scratch) / "audio.wav", audio, int(sample_rate)))
        writer = None
        count = 0
        try:
            for frame in tqdm(
                frames, total=total, desc="frames", unit="frame", disable=not progress
            ):
                frame = np.asarray(frame)
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise EmogenError(f"frames must be (H, W, 3) uint8, got {frame.shape}")
                if frame.shape[0] % 2 or frame.shape[1] % 2:
                    raise EmogenError(f"H.264 needs even frame sides, got {frame.shape[:2]}")
                if writer is None:
                    size = (frame.shape[1], frame.shape[0])
                    writer = imageio_ffmpeg.write_frames(
                        str(partial),
                        size,
                        fps=fps,
                        codec="libx264",
                        macro_block_size=1,
                        ffmpeg_log_level="error",
                        output_params=[
                            *_VIDEO_OPTIONS,
                            *(["-b:a", _AUDIO_BITRATE, "-shortest"] if audio_path else []),
                            *["-f", "mp4"],  # the temporary file's name ends in .tmp
                        ],
                        audio_path=audio_path,
                        audio_codec="aac" if audio_path else None,
                    )
                    writer.send(None)
                elif (frame.shape[1], frame.shape[0]) != size:
                    raise EmogenError(f"frame {count} is {frame.shape[:2]}, not {size[::-1]}")
                writer.send(np.ascontiguousarray(frame))
                count += 1
            if writer is None:
                raise EmogenError("no frames to write")
        finally:
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    logger.debug("ffmpeg did not close cleanly", exc_info=True)
    return path


def probe_video(path: str | os.PathLike) -> dict[str, object]:
    """What a video file holds: `video_codec`, `audio_codec` (None when silent), `width`,
    `height`, `fps`, `frames` and `duration` (seconds, the container's)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise EmogenError(f"no video at {path}")
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
    )
    info = result.stderr
    video = re.search(r"Stream #\S+.*Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", info)
    if video is None:
        raise EmogenError(f"{path} has no video stream ({info.strip().splitlines()[-1]})")
    audio = re.search(r"Stream #\S+.*Audio: (\w+)", info)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    hours, minutes, seconds = (float(g) for g in duration.groups()) if duration else (0, 0, 0)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {
        "video_codec": video.group(1),
        "audio_codec": audio.group(1) if audio else None,
        "width": int(video.group(2)),
        "height": int(video.group(3)),
        "fps": float(video.group(4)),
        "frames": int(frames),
        "duration": hours * 3600 + minutes * 60 + seconds,
    }


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """All frames of a video, `(T, H, W, 3)` uint8 RGB, and its fps (for tests and benchmarks;
    short clips only: everything is held in memory)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    if not frames:
        raise EmogenError(f"{path} has no frames")
    return np.stack(frames), float(meta["fps"])
