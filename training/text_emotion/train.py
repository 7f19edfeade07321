"""Fine-tune the text-emotion model (`emogen.emotion.text_model.TextEmotionModel`) with Accelerate.

Data: the recognizer's labelled sentences (`labelled_examples`: prototypes, written examples,
retired test sets) and the chat messages (`chat_examples`), each with a category and a valence
sign; none of the dialogue dev/test or text dev/test sets. Loss: cross-entropy of the category
head plus that of the valence head. Only the top `trained_layers` of the encoder (MiniLM or MPNet)
and the heads train; the frozen layers run once per example, before the loop.

Steps:
    1. the examples (optionally the first `max_examples`, for the tiny config);
    2. an Accelerate loop over seeded random batches: prepare, backward, gradient clipping, the
       loss logged to `<out>/loss.csv`, `save_state` every `save_every` steps into
       `<out>/states/step-NNNNNNN` (`--resume` continues from the newest);
    3. `save_pretrained` into `<out>/model/`, and the accuracies on the dev sets
       (benchmarks/dialogue/dialogue_dev.jsonl, benchmarks/emotion/text_emotion_dev.jsonl) into
       `<out>/training_summary.json`.

    .venv/bin/python training/text_emotion/train.py --config tiny --out checkpoints/text-tiny
    .venv/bin/python training/text_emotion/train.py --config base
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG_KEYS = {
    "encoder": str,  # a name of emogen.emotion.text_model.ENCODERS
    "int8_inference": bool,  # the saved model predicts with an int8 encoder
    "trained_layers": int,
    "include_chat": bool,  # the chat messages as well as the sentences
    "max_examples": (int, type(None)),  # null: all
    "steps": int,
    "batch_size": int,  # per process
    "learning_rate": float,  # the trained layers
    "head_learning_rate": float,
    "warmup_steps": int,
    "weight_decay": float,
    "max_grad_norm": float,
    "log_every": int,
    "save_every": int,
    "keep_states": int,
    "seed": int,
}
DEV_SETS = {
    "dialogue_dev": ROOT / "benchmarks" / "dialogue" / "dialogue_dev.jsonl",
    "text_dev": ROOT / "benchmarks" / "emotion" / "text_emotion_dev.jsonl",
}
LOSS_LOG = "loss.csv"
LOG_FIELDS = ["step", "loss", "lr", "seconds"]
SUMMARY = "training_summary.json"
MODEL = "model"

logger = logging.getLogger("text_emotion")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    for key in ("steps", "batch_size", "log_every", "save_every", "keep_states"):
        if config[key] < 1:
            raise EmogenError(f"{name_or_path}: {key} must be >= 1, got {config[key]}")
    return config


def examples(config: dict[str, Any]) -> tuple[list[str], torch.Tensor, torch.Tensor, tuple]:
    """(sentences, `(N,)` category index, `(N,)` valence index 0..2, category names)."""
    from emogen.emotion.text import chat_examples, labelled_examples, recognised_categories

    rows = labelled_examples() + (chat_examples() if config["include_chat"] else [])
    if config["max_examples"] is not None:
        rows = rows[:: max(1, len(rows) // config["max_examples"])][: config["max_examples"]]
    labels = recognised_categories()
    index = {name: i for i, name in enumerate(labels)}
    categories = torch.tensor([index[c] for _, c, _ in rows])
    valences = torch.tensor([v + 1 for _, _, v in rows])
    return [s for s, _, _ in rows], categories, valences, labels


def dev_accuracy(model, path: Path) -> dict[str, float] | None:
    """Category accuracy and valence-sign agreement of the model alone on a dev set."""
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            rows += item.get("turns", [item])
    categories, valences = model.predict([r["text"] for r in rows])
    category = [model.labels[i] for i in categories.argmax(1)]
    valence = valences.argmax(1) - 1
    return {
        "category_accuracy": float(np.mean([c == r["category"] for c, r in zip(category, rows)])),
        "valence_sign_agreement": float(
            np.mean([v == r["valence_sign"] for v, r in zip(valence, rows)])
        ),
        "items": len(rows),
    }


def train(
    config: dict[str, Any],
    out: str | Path,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run the recipe; returns the summary (also written to `<out>/training_summary.json`)."""
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler

    from emogen.emotion.text_model import TextEmotionModel
    from emogen.recipes import (
        check_run_folder,
        latest_state,
        read_loss_log,
        record_run_config,
        run_summary,
        save_state,
        seeded_generator,
        training_bar,
        write_loss_log,
    )

    accelerator = Accelerator()
    out = check_run_folder(out, config, resume, accelerator)
    record_run_config(out, config, accelerator)
    torch.manual_seed(config["seed"])

    # 1. Data and model.
    sentences, categories, valences, labels = examples(config)
    model = TextEmotionModel(
        labels, config["trained_layers"], config["encoder"], config["int8_inference"]
    )
    trainable = sum(p.numel() for p in model.parameters())
    logger.info("%d examples; %d trained parameters", len(sentences), trainable)
    # The frozen layers never change: run them once per text, not once per step (for
    # all-mpnet-base-v2 with 4 of 12 layers trained: 497 s once on two threads in the shipped
    # run, ~1.5x less since then (only the frozen layers run: 35.4 -> 23.8 s on a tenth of the
    # texts); in every step they would see each example ~4 times in 2,800 steps of 32).
    began = time.perf_counter()
    states = model.frozen_states(sentences)
    logger.info("frozen layers run on the examples in %.0f s", time.perf_counter() - began)
    optimizer = torch.optim.AdamW(
        [
            {"params": model.top_layers.parameters(), "lr": config["learning_rate"]},
            {
                "params": [*model.category_head.parameters(), *model.valence_head.parameters()],
                "lr": config["head_learning_rate"],
            },
        ],
        weight_decay=config["weight_decay"],
    )
    lr_scheduler = get_scheduler(
        "cosine",
        optimizer,
        num_warmup_steps=config["warmup_steps"],
        num_training_steps=config["steps"],
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(lr_scheduler)

    # 2. Resume.
    start_step = 0
    state = latest_state(out) if resume else None
    if state is not None:
        accelerator.load_state(str(state))
        start_step = int(state.name.split("-")[1])
        logger.info("resumed from %s (step %d)", state, start_step)
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []

    # 3. The loop: each batch drawn from a generator seeded by (seed, step, process), so a
    # resumed run sees the batches the uninterrupted one did.
    module = accelerator.unwrap_model(model)
    module.train()
    started = time.perf_counter()
    window: list[float] = []
    last_step = config["steps"] if stop_after is None else min(config["steps"], stop_after)
    bar = training_bar(accelerator, start_step, last_step, config["steps"])
    for step in bar:
        generator = seeded_generator(config["seed"], step, accelerator.process_index)
        pick = torch.randint(len(sentences), (config["batch_size"],), generator=generator)
        category_logits, valence_logits = model(states=[states[i] for i in pick.tolist()])
        loss = torch.nn.functional.cross_entropy(
            category_logits, categories[pick]
        ) + torch.nn.functional.cross_entropy(valence_logits, valences[pick])
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), config["max_grad_norm"])
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
        window.append(float(accelerator.gather(loss.detach()[None]).mean()))
        if step % config["log_every"] == 0:
            log_rows.append(
                {
                    "step": step,
                    "loss": f"{np.mean(window):.6f}",
                    "lr": f"{lr_scheduler.get_last_lr()[0]:.3g}",
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            bar.set_postfix(loss=f"{np.mean(window):.4f}")
            window = []
        if step % config["save_every"] == 0 or step == last_step:
            if accelerator.is_main_process:
                write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)
            save_state(accelerator, out, step, config["keep_states"])
    bar.close()

    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        examples=len(sentences),
        trained_parameters=trainable,
    )  # fmt: skip
    completed = summary["completed"]
    if not completed:
        return summary
    # 4. Export and measure on the dev sets (never trained on).
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        module.train(False)
        module.save_pretrained(out / MODEL)
        for name, path in DEV_SETS.items():
            summary[name] = dev_accuracy(module, path)
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("saved the model to %s: %s", out / MODEL, summary)
    accelerator.wait_for_everyone()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--out", default=None, help="run folder (default checkpoints/text-<cfg>)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(max(1, args.threads))
    config = load_config(args.config)
    out = args.out or ROOT / "checkpoints" / f"text-emotion-{Path(args.config).stem}"
    train(config, out, args.resume, args.stop_after)


if __name__ == "__main__":
    main()
