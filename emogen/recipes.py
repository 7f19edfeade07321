"""What the training recipes under training/ share: reading and checking their YAML configs, the
optimiser set-up and step of their Accelerate loops (`prepare_training`, `optimisation_step`),
and their bookkeeping (seeded batches, saved states, the loss log)."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import EmogenError

logger = logging.getLogger(__name__)


def load_recipe(name: str):
    """The recipe `training/<name>/train.py` of a source checkout, as a module (registered in
    `sys.modules` first: its dataclasses look their module up)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "training" / name / "train.py"
    if not path.is_file():
        raise EmogenError(f"no recipe {name!r} at {path} (a source checkout of emogen has it)")
    module_name = f"{name}_train"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def load_recipe_config(
    name_or_path: str, configs_dir: str | Path, keys: Mapping[str, type]
) -> dict[str, Any]:
    """Read `configs_dir/<name>.yaml` or a YAML path, and check its keys and their types.

    Args:
        name_or_path: a config name ("tiny", "base") or a path to a YAML file.
        configs_dir: the recipe's configs folder.
        keys: every key the config must have -> its type (an int is accepted for a float).

    Raises:
        EmogenError: no such config (naming the known ones), missing or unknown keys, or a value
            of the wrong type.
    """
    import yaml

    configs_dir = Path(configs_dir)
    path = Path(name_or_path)
    if not path.suffix:
        path = configs_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in configs_dir.glob("*.yaml"))
        raise EmogenError(f"config {name_or_path!r} not found; give a YAML path or one of {known}")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise EmogenError(f"{path}: a config is a mapping of keys to values")
    missing = sorted(set(keys) - set(config))
    unknown = sorted(set(config) - set(keys))
    if missing or unknown:
        raise EmogenError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    for key, kind in keys.items():
        value = config[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            config[key] = value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise EmogenError(f"{path}: {key!r} has the wrong type: {value!r}")
    return config


STATES = "states"
RUN_CONFIG = "train_config.json"


def check_run_folder(out: str | Path, config: Mapping[str, Any], resume: bool, state: Any) -> Path:
    """Create the run folder (main process) and refuse to resume a run trained with another
    config: its states and schedules would not fit. Every process must call this.

    Args:
        out: the run folder.
        config: the run's config (compared with `<out>/train_config.json` when resuming).
        resume: whether the run continues from a saved state.
        state: the run's `Accelerator` (or `PartialState`).
    """
    import json

    out = Path(out)
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        recorded = out / RUN_CONFIG
        if resume and recorded.is_file() and json.loads(recorded.read_text()) != dict(config):
            raise EmogenError(f"{out} was trained with another config ({recorded}); not resuming")
    state.wait_for_everyone()
    return out


def record_run_config(out: str | Path, config: Mapping[str, Any], state: Any) -> None:
    """Write the run's config to `<out>/train_config.json` (main process)."""
    import json

    if state.is_main_process:
        (Path(out) / RUN_CONFIG).write_text(json.dumps(dict(config), indent=2) + "\n")


def training_noise_scheduler(config: Mapping[str, Any]):
    """The DDPM schedule a recipe trains its denoiser with (Ho et al. 2020), from the config's
    `num_train_timesteps`, `beta_schedule` and `prediction_type`."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config["num_train_timesteps"],
        beta_schedule=config["beta_schedule"],
        prediction_type=config["prediction_type"],
        clip_sample=False,  # normalised frames are not in [-1, 1] (images are)
    )


def seeded_generator(*entropy: int):
    """A torch generator seeded from integers (numpy's SeedSequence mixes them): a recipe seeds
    each batch by (seed, step, process), so a resumed run draws what the uninterrupted one did."""
    import numpy as np
    import torch

    state = np.random.SeedSequence(list(entropy)).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def prepare_training(
    accelerator: Any, model: Any, config: Mapping[str, Any], out: str | Path, resume: bool
) -> tuple[Any, Any, Any, Any, int]:
    """The optimiser side of a diffusion recipe, resumed when asked: AdamW, the config's
    learning-rate schedule (`lr_schedule`, `warmup_steps`, `steps`), an EMA of the weights when
    `ema_decay` is set, all registered for checkpointing, then the newest saved state loaded.

    Returns:
        `(model, optimizer, lr_scheduler, ema, start_step)`: the prepared model, the EMA or
        None, and the step the loaded state ended (0 for a fresh run).
    """
    import torch
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"])
    lr_scheduler = get_scheduler(
        config["lr_schedule"],
        optimizer,
        num_warmup_steps=config["warmup_steps"],
        num_training_steps=config["steps"],
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    # Not prepared: a prepared LR schedule advances once per process each step; this one
    # counts optimiser steps whatever the process count.
    accelerator.register_for_checkpointing(lr_scheduler)
    ema = None
    if config["ema_decay"] is not None:
        ema = EMAModel(accelerator.unwrap_model(model).parameters(), decay=config["ema_decay"])
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    start_step = 0
    state = latest_state(out) if resume else None
    if resume and state is None:
        logger.info("no saved state in %s: starting from step 0", Path(out) / STATES)
    if state is not None:
        accelerator.load_state(str(state))
        start_step = int(state.name.split("-")[1])
        logger.info("resumed from %s (step %d)", state, start_step)
    return model, optimizer, lr_scheduler, ema, start_step


def optimisation_step(
    accelerator: Any,
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    lr_scheduler: Any,
    max_grad_norm: float,
    ema: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """One step of a recipe's loop: `loss_fn()` (a loss tensor, or a dict of named losses that
    are summed) under gradient accumulation, backward, gradient clipping, optimizer and
    learning-rate steps, then the EMA. Returns the total loss and the named losses."""
    with accelerator.accumulate(model):
        result = loss_fn()
        losses = result if isinstance(result, dict) else {}
        loss = sum(result.values()) if isinstance(result, dict) else result
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
    if ema is not None:
        ema.step(accelerator.unwrap_model(model).parameters())
    return loss, losses


def evaluate_with_ema(accelerator: Any, model: Any, ema: Any, measure: Any) -> Any:
    """`measure(module)` on the unwrapped model in eval mode under no_grad, with the EMA weights
    when the run keeps an EMA (the training weights are put back after), then back to train
    mode: a recipe's held-out evaluation."""
    import torch

    module = accelerator.unwrap_model(model)
    module.eval()
    try:
        with torch.no_grad():
            if ema is not None:
                ema.store(module.parameters())
                ema.copy_to(module.parameters())
            return measure(module)
    finally:
        if ema is not None:
            ema.restore(module.parameters())
        module.train()


def training_bar(
    accelerator: Any, start_step: int, last_step: int, total: int, interval: float = 2
):
    """The loop's steps `start_step + 1 .. last_step` with a progress bar over `total` steps (on
    the main process of each machine only)."""
    from tqdm.auto import tqdm

    return tqdm(
        range(start_step + 1, last_step + 1),
        initial=start_step,
        total=total,
        disable=not accelerator.is_local_main_process,
        mininterval=interval,
        desc="training",
    )


def run_summary(
    accelerator: Any,
    log_rows: Sequence[Mapping[str, Any]],
    total_steps: int,
    last_step: int,
    start_step: int,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """The summary a recipe returns and writes to `training_summary.json`: steps, whether the
    run completed, where it resumed from, the first and last logged training and evaluation
    losses, the time of this run, then `extra` (sizes, data counts...) and the machine."""
    import math
    import platform

    losses = [row for row in log_rows if row.get("loss")]
    evaluated = [row for row in log_rows if row.get("eval_loss")]
    return {
        "steps": last_step,
        "completed": last_step == total_steps,
        "resumed_from": start_step,
        "first_loss": float(losses[0]["loss"]) if losses else math.nan,
        "final_loss": float(losses[-1]["loss"]) if losses else math.nan,
        "first_eval_loss": float(evaluated[0]["eval_loss"]) if evaluated else math.nan,
        "final_eval_loss": float(evaluated[-1]["eval_loss"]) if evaluated else math.nan,
        "seconds_this_run": round(seconds, 1),
        **extra,
        "num_processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "machine": platform.processor() or platform.machine(),
    }


def latest_state(out: str | Path) -> Path | None:
    """The newest `save_state` folder in `<out>/states`, or None."""
    states = sorted((Path(out) / STATES).glob("step-*"))
    return states[-1] if states else None


def save_state(accelerator: Any, out: str | Path, step: int, keep: int) -> Path:
    """`accelerator.save_state` into `<out>/states/step-NNNNNNN`, keeping the newest `keep`."""
    folder = Path(out) / STATES / f"step-{step:07d}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        for old in sorted((Path(out) / STATES).glob("step-*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


def read_loss_log(path: str | Path, up_to_step: int) -> list[dict[str, str]]:
    """A loss log's rows up to a step (rows a crashed run wrote after its last saved state are
    dropped: the resumed run writes them again)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if int(row["step"]) <= up_to_step]


def write_loss_log(path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]):
    """Write the loss log (CSV with a header row), whole."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def plot_loss_log(path: str | Path, image: str | Path, title: str) -> Path:
    """Draw a recipe's `loss.csv` (training loss per logged step, and every `*_loss` and
    `eval_loss` column) on a log scale into `image` (PNG): the model card's loss curve.

    Needs matplotlib (`pip install 'emogen[eval]'`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in rows[0] if name == "loss" or name.endswith("_loss")]
    fig, axis = plt.subplots(figsize=(7, 4))
    for name in columns:
        points = [(int(r["step"]), float(r[name])) for r in rows if r.get(name)]
        if points:
            steps, values = zip(*points)
            style = {"marker": "o", "ms": 3} if name == "eval_loss" else {"lw": 1}
            axis.plot(steps, values, label=name, **style)
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(image, dpi=100)
    plt.close(fig)
    return Path(image)
