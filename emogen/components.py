"""`EmogenComponent`: the base of pipeline components that are not neural networks.

Voices, the WORLD vocoder and the emotion renderer have a config but no weights. Deriving from
this class gives them `save_pretrained`/`from_pretrained` (a config json in their own subfolder)
and makes diffusers' `DiffusionPipeline` save and load them like its own components: diffusers
finds save/load methods through its table of loadable base classes, so this module adds itself
to that table once, on import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from diffusers.configuration_utils import ConfigMixin
from diffusers.pipelines import pipeline_loading_utils

from .errors import EmogenError


class EmogenComponent(ConfigMixin):
    """A config-only pipeline component (subclasses set `config_name` and `register_to_config`)."""

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write the component's config json into `save_directory`."""
        self.save_config(save_directory)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, subfolder: str | None = None, **kwargs: Any
    ) -> EmogenComponent:
        """Load a component saved with `save_pretrained` (a folder with the config json)."""
        folder = Path(path) / (subfolder or "")
        if not (folder / cls.config_name).is_file():
            raise EmogenError(
                f"no {cls.config_name} in {folder}: expected a folder written by "
                f"{cls.__name__}.save_pretrained"
            )
        return cls.from_config(cls.load_config(folder), **kwargs)


# diffusers looks up save/load methods by base class, per library module (see
# diffusers.pipelines.pipeline_loading_utils.LOADABLE_CLASSES).
_METHODS = ["save_pretrained", "from_pretrained"]
pipeline_loading_utils.LOADABLE_CLASSES.setdefault(__name__, {"EmogenComponent": _METHODS})
pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.setdefault("EmogenComponent", _METHODS)
# A DirectionBank (arrays, no config class) saves and loads the same way when a pipeline holds one.
pipeline_loading_utils.LOADABLE_CLASSES.setdefault(
    "emogen.emotion.directions", {"DirectionBank": _METHODS}
)
pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.setdefault("DirectionBank", _METHODS)
# The fine-tuned text-emotion model (weights of its trained layers only) likewise.
pipeline_loading_utils.LOADABLE_CLASSES.setdefault(
    "emogen.emotion.text_model", {"TextEmotionModel": _METHODS}
)
pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.setdefault("TextEmotionModel", _METHODS)
