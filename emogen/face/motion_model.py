"""A learned audio-to-motion model: speech audio + emotion -> the talking head's mouth parameters.

`AudioToMotionModel` predicts the five mouth parameters of `emogen.face.visemes` (jaw_open,
lip_round, lip_stretch, lip_closure, lip_tuck, each in [0, 1]) at each video frame from the
waveform alone: no transcript and no phoneme timing. It is trained (training/audio_to_motion) on
speech whose phoneme timing is known, the targets being `mouth_track(alignment, times)`, so it
learns the viseme rig's timing from the sound.

    audio (any rate) -> 16 kHz log-mel, 40 bands every 10 ms (`emogen.eval.speech.log_mel`,
        the d-vector front end), level-normalised: the loudest bins at 0, a 60 dB floor
    -> `mel_context` mel frames stacked per video frame (4 at 25 fps: 40 ms of audio each)
    -> audio encoder (dilated 1-D convolutions over frames, the emotion added at its input,
       run once per clip) -> a prior mu of the track (Grad-TTS, Popov et al. 2021: an L2
       regression, the bulk of the motion)
    -> `FrameDenoiser` (DiffWave over frames, emogen.speech.acoustic) generating the residual
       track - mu given the encoded audio, mu and the shared `EmotionEncoder`'s EmoReg-shifted
       embedding (one per clip, or per frame for an emotion curve)

Diffusion: DDPM training (Ho et al. 2020) of the residual, the track scaled to [-1, 1], v-prediction
(Salimans & Ho 2022), few-step DPM-Solver sampling (Lu et al. 2022), seeded; the emotion can be
guided (classifier-free guidance, Ho & Salimans 2022) as in the other learned models.

Example:
    >>> model = AudioToMotionModel.from_pretrained("pipelines/talking-head/motion_model")
    >>> mouth = model.predict(audio, 22050, emotion="happy:0.7", fps=25)  # (T, 5) in [0, 1]
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..emotion import EmotionCurve, EmotionLike
from ..emotion.encoder import EmotionEncoder
from ..errors import EmogenError
from ..eval.speech import SPEAKER_SAMPLE_RATE, log_mel
from ..speech.acoustic import FrameDenoiser, frame_emotion_embedding, sample
from ..speech.audio import resample
from .visemes import MOUTH_PARAMETERS

__all__ = ["MEL_BANDS", "MEL_HOP_S", "AudioToMotionModel", "motion_audio_features"]

MEL_BANDS = 40
MEL_HOP_S = 0.01  # the d-vector front end's 10 ms hop
_MEL_WINDOW = 512  # its FFT size: a mel frame starts where the padded audio does
# Level normalisation (log10 power: 1 = 10 dB): the 99th percentile of an utterance's bins is
# moved to 0 and everything more than 60 dB below it is floored, so the gain of a recording does
# not matter. A clip quieter than REFERENCE_FLOOR (40 dB under the TTS voice) is not amplified
# further: digital silence stays at the floor instead of becoming "loud".
LEVEL_FLOOR = -6.0
REFERENCE_FLOOR = -4.0


def motion_audio_features(
    audio: np.ndarray, sample_rate: int, num_frames: int, fps: float, mel_context: int
) -> np.ndarray:
    """Level-normalised log-mel frames stacked per video frame: `(num_frames, 40 * mel_context)`.

    Video frame j is at `j / fps` seconds; it reads `mel_context` consecutive 10 ms mel frames
    starting `mel_context // 2` hops before it (at 25 fps and 4: -20, -10, 0, +10 ms).

    Args:
        audio: `(N,)` mono waveform, float in [-1, 1].
        sample_rate: its rate (resampled to 16 kHz here).
        num_frames: video frames wanted.
        fps: video frame rate.
        mel_context: mel frames per video frame.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise EmogenError(f"audio must be a 1-D mono waveform, got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise EmogenError("audio has NaN or infinite samples")
    audio = resample(audio, int(sample_rate), SPEAKER_SAMPLE_RATE)
    # Half a window of zeros in front: mel frame i is then centred on i * 10 ms.
    half = _MEL_WINDOW // 2
    hop = round(MEL_HOP_S * SPEAKER_SAMPLE_RATE)
    needed = math.ceil((num_frames / fps) / MEL_HOP_S) + mel_context + 2  # mel frames
    tail = max(needed * hop + _MEL_WINDOW - len(audio) - half, half)
    mel = log_mel(np.pad(audio, (half, tail)))  # (M, 40)
    reference = max(float(np.percentile(mel, 99)), REFERENCE_FLOOR)
    mel = np.maximum(mel - reference, LEVEL_FLOOR)
    first = np.round(np.arange(num_frames) / fps / MEL_HOP_S).astype(np.int64) - mel_context // 2
    index = np.clip(first[:, None] + np.arange(mel_context)[None], 0, len(mel) - 1)
    return mel[index].reshape(num_frames, mel_context * MEL_BANDS).astype(np.float32)


class AudioEncoderLayer(nn.Module):
    """A residual dilated convolution over frames (WaveNet-style context, van den Oord et al.
    2016), pre-normalised. Shapes: `(B, channels, T)` in and out."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.dilated_conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.output_projection = nn.Conv1d(channels, channels, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.output_projection(F.silu(self.dilated_conv(self.norm(hidden))))


class AudioToMotionModel(ModelMixin, ConfigMixin):
    """Audio features + emotion -> mouth parameters per video frame, by diffusion.

    Args:
        fps: video frames per second the model works at (`predict` interpolates to others).
        mel_context: 10 ms mel frames stacked per video frame (4 at 25 fps covers the frame).
        audio_channels: width of the audio encoder.
        audio_layers: its residual dilated layers (dilations 1, 2, 4, ... cycling over 4).
        denoiser_channels: width of the `FrameDenoiser`.
        denoiser_layers: its residual layers.
        dilation_cycle: the denoiser's dilations run 1 ... 2^(cycle - 1), then repeat.
        emotion_hidden_size: size of the shared `EmotionEncoder`'s embedding.
        num_train_timesteps, beta_schedule, prediction_type: the DDPM schedule it is trained
            with (`DDPMScheduler` arguments); `make_scheduler` builds a sampler from them.
        num_inference_steps: `predict`'s default number of denoising steps.
        diffusion_strength: `predict`'s default share of the reverse process run, in [0, 1]:
            1 generates the residual from pure noise, 0 returns the prior mu alone (shallow
            diffusion in between, DiffSinger, Liu et al. 2022).
        noise_scale: `predict`'s default scale of the starting noise, > 0 (Grad-TTS's
            temperature).

    The per-band mean and deviation of the training features are buffers
    (`set_feature_statistics`), saved with the weights.
    """

    @register_to_config
    def __init__(
        self,
        fps: float = 25.0,
        mel_context: int = 4,
        audio_channels: int = 64,
        audio_layers: int = 4,
        denoiser_channels: int = 64,
        denoiser_layers: int = 8,
        dilation_cycle: int = 4,
        emotion_hidden_size: int = 32,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "squaredcos_cap_v2",
        prediction_type: str = "v_prediction",
        num_inference_steps: int = 8,
        diffusion_strength: float = 1.0,
        noise_scale: float = 1.0,
    ):
        super().__init__()
        for name, value in (
            ("mel_context", mel_context),
            ("audio_channels", audio_channels),
            ("audio_layers", audio_layers),
            ("num_inference_steps", num_inference_steps),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmogenError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
            raise EmogenError(f"fps must be a number > 0, got {fps!r}")
        if not (isinstance(diffusion_strength, int | float) and 0 <= diffusion_strength <= 1):
            raise EmogenError(f"diffusion_strength must be in [0, 1], got {diffusion_strength!r}")
        if not (isinstance(noise_scale, int | float) and math.isfinite(noise_scale)):
            raise EmogenError(f"noise_scale must be a number > 0, got {noise_scale!r}")
        if noise_scale <= 0:
            raise EmogenError(f"noise_scale must be a number > 0, got {noise_scale!r}")
        feature_dims = MEL_BANDS * mel_context
        self.register_buffer("feature_mean", torch.zeros(feature_dims))
        self.register_buffer("feature_std", torch.ones(feature_dims))
        self.audio_input = nn.Conv1d(feature_dims, audio_channels, 3, padding=1)
        self.audio_encoder_layers = nn.ModuleList(
            AudioEncoderLayer(audio_channels, 2 ** (i % 4)) for i in range(audio_layers)
        )
        self.audio_norm = nn.GroupNorm(1, audio_channels)
        # The encoder's own dropouts are off: the recipe drops the whole emotion itself.
        self.emotion_encoder = EmotionEncoder(
            hidden_size=emotion_hidden_size, condition_dropout_prob=0.0, attribute_dropout_prob=0.0
        )
        self.emotion_projection = nn.Linear(emotion_hidden_size, audio_channels)
        # Grad-TTS's prior (Popov et al. 2021): the encoder's own estimate mu of the track,
        # trained with an L2 loss; the denoiser generates the residual x - mu given mu.
        self.prior_projection = nn.Sequential(
            nn.Conv1d(audio_channels, audio_channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv1d(audio_channels, len(MOUTH_PARAMETERS), 1),
        )
        self.denoiser = FrameDenoiser(
            frame_dims=len(MOUTH_PARAMETERS),
            condition_dims=audio_channels + len(MOUTH_PARAMETERS),
            emotion_dims=emotion_hidden_size,
            channels=denoiser_channels,
            num_layers=denoiser_layers,
            dilation_cycle=dilation_cycle,
        )

    # ----- features ------------------------------------------------------------------------------
    def audio_features(self, audio: np.ndarray, sample_rate: int, num_frames: int) -> np.ndarray:
        """`motion_audio_features` at the model's fps and context: `(num_frames, F)`, not yet
        normalised (the recipe caches these)."""
        config = self.config
        return motion_audio_features(audio, sample_rate, num_frames, config.fps, config.mel_context)

    def set_feature_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training features' per-column mean and deviation `(F,)` (floored at 0.1)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=self.feature_mean.dtype))
        self.feature_std.copy_(torch.as_tensor(std, dtype=self.feature_std.dtype).clamp(min=0.1))

    def silence_features(self) -> torch.Tensor:
        """`(F,)` the unnormalised features of silence (every bin at the floor): the padding."""
        return torch.full_like(self.feature_mean, LEVEL_FLOOR)

    def encode_audio(
        self, features: torch.Tensor, emotion_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio features and emotion -> the denoiser's condition and the prior.

        Args:
            features: `(B, T, F)` unnormalised audio features (`audio_features`).
            emotion_embedding: `(B, T, E)` the emotion per frame (`frame_emotion_embedding`).

        Returns:
            `(B, T, audio_channels + 5)` condition (encoded audio and the prior) and `(B, T, 5)`
            the prior mu, in the diffused space [-1, 1].
        """
        if features.ndim != 3 or features.shape[-1] != self.feature_mean.shape[0]:
            raise EmogenError(
                f"features must have shape (batch, frames, {self.feature_mean.shape[0]}), "
                f"got {tuple(features.shape)}"
            )
        normalised = (features.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_std
        hidden = self.audio_input(normalised.transpose(1, 2))
        hidden = hidden + self.emotion_projection(emotion_embedding).transpose(1, 2)
        for layer in self.audio_encoder_layers:
            hidden = layer(hidden)
        hidden = F.silu(self.audio_norm(hidden))
        prior = self.prior_projection(hidden).transpose(1, 2)
        # The denoiser reads mu as a given (Grad-TTS): no gradient through it from the residual.
        condition = torch.cat([hidden.transpose(1, 2), prior.detach()], dim=-1)
        return condition, prior

    @staticmethod
    def to_sample(mouth: torch.Tensor) -> torch.Tensor:
        """Mouth parameters in [0, 1] -> the diffused space [-1, 1]."""
        return mouth * 2.0 - 1.0

    @staticmethod
    def from_sample(sample: torch.Tensor) -> torch.Tensor:
        """The diffused space -> mouth parameters, clipped to [0, 1]."""
        return ((sample + 1.0) / 2.0).clamp(0.0, 1.0)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        audio_condition: torch.Tensor,
        emotion_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """The denoiser's prediction (v, noise or sample, as `prediction_type`): `(B, T, 5)`.

        Args:
            sample: `(B, T, 5)` noisy residual of the mouth track (in [-1, 1] space) over the prior.
            timestep: `(B,)` or a scalar diffusion step.
            audio_condition: `(B, T, audio_channels + 5)` from `encode_audio`.
            emotion_embedding: `(B, E)` or `(B, T, E)`.
        """
        return self.denoiser(sample, timestep, audio_condition, emotion_embedding).sample

    # ----- sampling ------------------------------------------------------------------------------
    def make_scheduler(self, kind: str = "dpm"):
        """A sampler of the training schedule: "dpm" (DPM-Solver++, few steps) or "ddim"."""
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        config = self.config
        arguments = {
            "num_train_timesteps": config.num_train_timesteps,
            "beta_schedule": config.beta_schedule,
            "prediction_type": config.prediction_type,
        }
        if kind == "dpm":
            return DPMSolverMultistepScheduler(**arguments)
        if kind == "ddim":
            return DDIMScheduler(**arguments, clip_sample=False)
        raise EmogenError(f"scheduler kind must be 'dpm' or 'ddim', got {kind!r}")

    @torch.no_grad()
    def predict(
        self,
        audio: np.ndarray,
        sample_rate: int,
        emotion: EmotionLike | EmotionCurve = "neutral",
        fps: float = 25.0,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        emotion_guidance_scale: float = 1.0,
        generator: int | torch.Generator | None = 0,
        scheduler=None,
        diffusion_strength: float | None = None,
        noise_scale: float | None = None,
    ) -> np.ndarray:
        """Mouth parameters for each video frame of a speech clip.

        Args:
            audio: `(N,)` mono waveform in [-1, 1].
            sample_rate: its sample rate.
            emotion: the speaker's emotion (any form `Emotion` parses) or an `EmotionCurve`
                over seconds.
            fps: frame rate of the output; frame j is at `j / fps` seconds.
            num_frames: frames wanted (default: `ceil(duration * fps)`).
            num_inference_steps: denoising steps (default: the config's).
            emotion_guidance_scale: classifier-free guidance on the emotion, >= 0 (1: plain).
            generator: seed or torch generator of the starting noise.
            scheduler: a diffusers scheduler of the training config (default DPM-Solver++).
            diffusion_strength: share of the reverse process run, in [0, 1] (default: the
                config's); 0 is the prior alone.
            noise_scale: scale of the starting noise, > 0 (default: the config's).

        Returns:
            `(num_frames, 5)` float32 in [0, 1], columns `MOUTH_PARAMETERS`.
        """
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise EmogenError(f"sample_rate must be an integer >= 1, got {sample_rate!r}")
        if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
            raise EmogenError(f"fps must be a number > 0, got {fps!r}")
        duration = len(audio) / sample_rate
        if num_frames is None:
            num_frames = max(1, math.ceil(duration * fps - 1e-9))
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
            raise EmogenError(f"num_frames must be an integer >= 1, got {num_frames!r}")
        # 1-3. Audio features at the model's frame rate, covering every wanted frame; denoise.
        own_fps = float(self.config.fps)
        own_frames = max(1, math.ceil((num_frames - 1) / fps * own_fps) + 1)
        features = torch.from_numpy(self.audio_features(audio, sample_rate, own_frames))
        mouth = self.predict_from_features(
            features[None], emotion, num_inference_steps, emotion_guidance_scale, generator,
            scheduler, diffusion_strength, noise_scale,
        )  # fmt: skip

        # 4. To the wanted frame times.
        if own_frames == num_frames and fps == own_fps:
            return mouth.astype(np.float32)
        own_times = np.arange(own_frames) / own_fps
        times = np.arange(num_frames) / fps
        return np.stack([np.interp(times, own_times, column) for column in mouth.T], axis=1).astype(
            np.float32
        )

    @torch.no_grad()
    def predict_from_features(
        self,
        features: torch.Tensor,
        emotion: EmotionLike | EmotionCurve = "neutral",
        num_inference_steps: int | None = None,
        emotion_guidance_scale: float = 1.0,
        generator: int | torch.Generator | None = 0,
        scheduler=None,
        diffusion_strength: float | None = None,
        noise_scale: float | None = None,
    ) -> np.ndarray:
        """`predict` from audio features already computed (`audio_features`, `(1, T, F)`):
        `(T, 5)` in [0, 1] at the model's own fps."""
        if features.ndim != 3 or features.shape[0] != 1:
            raise EmogenError(
                f"features must have shape (1, frames, F), got {tuple(features.shape)}"
            )
        steps = (
            self.config.num_inference_steps if num_inference_steps is None else num_inference_steps
        )
        if isinstance(generator, int):
            generator = torch.Generator().manual_seed(generator)
        # Emotion, frame by frame (a curve over seconds changes along the clip).
        embedding = frame_emotion_embedding(
            self.emotion_encoder, emotion, features.shape[1], 1000.0 / float(self.config.fps)
        )[None]
        condition, prior = self.encode_audio(features.to(self.device), embedding)

        # Denoise (emogen.speech.acoustic.sample: seeded noise, optional guidance).
        residual = sample(
            self.denoiser,
            self.emotion_encoder,
            scheduler if scheduler is not None else self.make_scheduler(),
            condition,
            num_inference_steps=steps,
            emotion_guidance_scale=emotion_guidance_scale,
            generator=generator,
            emotion_embeds=embedding,
            strength=self.config.diffusion_strength
            if diffusion_strength is None
            else diffusion_strength,
            noise_scale=self.config.noise_scale if noise_scale is None else noise_scale,
        )
        return self.from_sample(prior[0] + residual[0]).float().cpu().numpy()
