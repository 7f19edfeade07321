"""A codec language model: emotion + phonemes -> audio codec tokens, one frame at a time.

`CodecLanguageModel` is a decoder-only transformer (a small transformers Llama) over one
sequence per utterance (the UDDETTS / Llasa family; Llasa, Ye et al. 2025):

    [ emotion prefix | phoneme tokens | audio frames ... ]

- the emotion prefix: `prefix_length` input embeddings projected from the shared
  `EmotionEncoder`'s condition (EmoReg's shifted embedding); the encoder's null emotion gives
  the unconditional prefix of classifier-free guidance (Ho & Salimans 2022);
- phoneme tokens: the Piper voice's phoneme ids (`emogen.speech.diffusion_tts.phoneme_tokens`);
- audio frames of an `AudioCodec` with Q codebooks, in MusicGen's delay pattern (Copet et al.
  2023): codebook q is shifted q steps later, so at each step the model predicts every codebook
  at once yet codebook q of a frame comes after codebooks < q of the same frame. A step's input
  is the sum of the Q codebook embeddings of the step before. Codebook 0 predicts `END` after
  the last frame.

Generation is KV-cached (transformers' `DynamicCache`), batched with left-padded prompts, and
samples each codebook with temperature, top-k and top-p; classifier-free guidance on the
emotion runs the unconditional prefix in the same batch.

With `phoneme_alignment` the model also follows a monotonic pointer into its phonemes (VALL-E
R's phoneme monotonic alignment; Han et al. 2024): each audio step's input adds embeddings of
the phoneme the previous frame belonged to and of the one after it, and an extra head predicts
how many phonemes the pointer moves on for this frame (0 .. `max_advance`). Training reads the
pointer from the corpus's phoneme alignment; generation samples the advance, so durations (and
the emotion's speech rate) stay the model's own, and the utterance ends when the pointer passes
the last phoneme (`max_phoneme_frames` moves on a pointer that holds one phoneme too long).
Without the pointer the model must discover the alignment inside attention, which emogen's
first base run had not done after 2,500 steps (babble of the wrong length).
`generate` can also take the durations from elsewhere (`frame_phonemes`, as from a FastSpeech
duration predictor).

Free-running generation is far worse than one step given the real history (on held-out speech
the shipped model's teacher-forced argmax codes decode to 18.8 % WER, the real codes to 15.8 %,
its free-running codes to 36-48 %; pipelines/tts-codec-lm's card): each wrong code pushes the
next steps off the data (exposure bias; Bengio et al. 2015). Two remedies:
`forward(own_history=p)` trains on inputs of which a share p are the model's own draws
(parallel scheduled sampling; Duckworth et al. 2019), and `generate(phoneme_prior_scale=s)`
pulls each first-level code towards codes heard with the phoneme the pointer is on
(`phoneme_prior_table`, counted on the training data).

Example:
    >>> model = CodecLanguageModel(phoneme_vocab_size=256, num_codebooks=4, codebook_size=512)
    >>> codes = model.generate([tokens], condition, null_condition, guidance_scale=2.0)
    >>> codes[0].shape   # (Q, T)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..errors import EmogenError

__all__ = [
    "CodecLanguageModel",
    "CodecLanguageModelOutput",
    "delay_codes",
    "phoneme_prior_table",
    "undelay_codes",
]


def delay_codes(codes: torch.Tensor, bos: int, end: int) -> torch.Tensor:
    """`(Q, T)` codes -> `(Q, T + Q - 1)` in the delay pattern: row q shifted right by q, `bos`
    before and `end` after."""
    num_codebooks, length = codes.shape
    delayed = torch.full((num_codebooks, length + num_codebooks - 1), end, dtype=torch.long)
    for level in range(num_codebooks):
        delayed[level, :level] = bos
        delayed[level, level : level + length] = codes[level]
    return delayed


def undelay_codes(delayed: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of `delay_codes`: `(Q, S)` -> `(Q, length)`."""
    num_codebooks = delayed.shape[0]
    return torch.stack([delayed[q, q : q + length] for q in range(num_codebooks)])


@dataclass
class CodecLanguageModelOutput(BaseOutput):
    """Training forward pass.

    Args:
        loss: mean cross-entropy over the supervised codebook positions.
        logits: `(B, S, Q, K + 2)` per audio step and codebook (K codes, BOS, END).
    """

    loss: torch.Tensor
    logits: torch.Tensor


class CodecLanguageModel(ModelMixin, ConfigMixin):
    """Decoder-only transformer over [emotion prefix | phonemes | codec frames] (module docstring).

    Args:
        phoneme_vocab_size: phoneme ids are in [0, phoneme_vocab_size).
        num_codebooks: Q of the codec.
        codebook_size: K of the codec; ids K and K + 1 are BOS and END.
        emotion_dims: size of the `EmotionEncoder` condition.
        prefix_length: input embeddings the emotion becomes.
        hidden_size, num_layers, num_heads, intermediate_size: the Llama transformer's.
        max_positions: longest sequence (prefix + phonemes + audio steps).
        dropout: attention dropout while training.
        phoneme_alignment: follow a phoneme pointer (module docstring); `forward` then needs
            `frame_phonemes`.
        max_advance: the most phonemes the pointer moves on in one frame.
        phoneme_prior: hold a `(phoneme_vocab_size, codebook_size)` table `phoneme_log_prior` of
            log p(phoneme | first-level code), counted on the training data
            (`phoneme_prior_table`), for `generate`'s `phoneme_prior_scale`.
    """

    @register_to_config
    def __init__(
        self,
        phoneme_vocab_size: int = 256,
        num_codebooks: int = 4,
        codebook_size: int = 512,
        emotion_dims: int = 64,
        prefix_length: int = 2,
        hidden_size: int = 256,
        num_layers: int = 6,
        num_heads: int = 4,
        intermediate_size: int = 704,
        max_positions: int = 2048,
        dropout: float = 0.0,
        phoneme_alignment: bool = False,
        max_advance: int = 3,
        phoneme_prior: bool = False,
    ):
        super().__init__()
        from transformers import LlamaConfig, LlamaModel

        llama = LlamaConfig(
            vocab_size=1,  # the model reads input embeddings only
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_heads,
            max_position_embeddings=max_positions,
            attention_dropout=dropout,
            bos_token_id=None,
            eos_token_id=None,
            pad_token_id=None,
        )
        self.transformer = LlamaModel(llama)
        self.emotion_prefix = nn.Linear(emotion_dims, prefix_length * hidden_size)
        self.phoneme_embedding = nn.Embedding(phoneme_vocab_size, hidden_size)
        self.code_embeddings = nn.ModuleList(
            nn.Embedding(codebook_size + 2, hidden_size) for _ in range(num_codebooks)
        )
        self.heads = nn.ModuleList(
            nn.Linear(hidden_size, codebook_size + 2, bias=False) for _ in range(num_codebooks)
        )
        if phoneme_alignment:
            # id phoneme_vocab_size: no phoneme (past the last one)
            self.current_phoneme = nn.Embedding(phoneme_vocab_size + 1, hidden_size)
            self.next_phoneme = nn.Embedding(phoneme_vocab_size + 1, hidden_size)
            self.advance_head = nn.Linear(hidden_size, max_advance + 1)
        if phoneme_prior:
            self.register_buffer(
                "phoneme_log_prior", torch.zeros(phoneme_vocab_size, codebook_size)
            )

    def with_phoneme_prior(self, table: torch.Tensor) -> CodecLanguageModel:
        """A copy of this model holding `table` (`phoneme_prior_table`) as its phoneme prior."""
        config = self.config
        expected = (config.phoneme_vocab_size, config.codebook_size)
        if tuple(table.shape) != expected:
            raise EmogenError(f"the phoneme prior must be {expected}, got {tuple(table.shape)}")
        model = type(self).from_config(config, phoneme_prior=True)
        state = {k: v for k, v in self.state_dict().items() if k != "phoneme_log_prior"}
        model.load_state_dict({**state, "phoneme_log_prior": table.float()})
        model = model.to(self.device)
        return model if model.dtype == self.dtype else model.to(self.dtype)

    @property
    def bos(self) -> int:
        return self.config.codebook_size

    @property
    def end(self) -> int:
        return self.config.codebook_size + 1

    def _prompt(self, condition: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """`(B, E)` condition and `(B, L)` phoneme ids -> `(B, P + L, H)` prompt embeddings."""
        prefix = self.emotion_prefix(condition).view(
            len(condition), self.config.prefix_length, self.config.hidden_size
        )
        return torch.cat([prefix, self.phoneme_embedding(tokens)], 1)

    def _frame_inputs(self, delayed: torch.Tensor) -> torch.Tensor:
        """`(B, Q, S)` delayed codes -> `(B, S, H)` step inputs (the sum over codebooks)."""
        return sum(
            embedding(delayed[:, level]) for level, embedding in enumerate(self.code_embeddings)
        )

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(hidden) for head in self.heads], -2)

    def _pointer_inputs(self, tokens: torch.Tensor, pointers: torch.Tensor) -> torch.Tensor:
        """`(P,)` phoneme ids of one row and `(S,)` pointers into them -> `(S, H)` embeddings of
        the pointed phoneme and the next one (the none id past the end)."""
        none, length = self.config.phoneme_vocab_size, len(tokens)

        def ids(positions: torch.Tensor) -> torch.Tensor:
            inside = positions < length
            return torch.where(inside, tokens[positions.clamp(max=length - 1)], none)

        return self.current_phoneme(ids(pointers)) + self.next_phoneme(ids(pointers + 1))

    def forward(
        self,
        condition: torch.Tensor,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
        codes: torch.Tensor,
        code_lengths: torch.Tensor,
        frame_phonemes: torch.Tensor | None = None,
        own_history: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> CodecLanguageModelOutput:
        """Teacher-forced loss of a right-padded batch.

        Args:
            condition: `(B, E)` emotion conditions (null rows for classifier-free guidance).
            tokens: `(B, L)` phoneme ids, right-padded.
            token_lengths: `(B,)` phonemes per row.
            codes: `(B, Q, T)` codec frames, right-padded.
            code_lengths: `(B,)` frames per row.
            frame_phonemes: `(B, T)` the phoneme (index into the row's tokens) each frame
                belongs to, non-decreasing; needed with `phoneme_alignment`. The loss then adds
                the cross-entropy of the pointer's advances.
            own_history: parallel scheduled sampling (Duckworth et al. 2019): the share of
                input codes replaced by the model's own draws from a teacher-forced pass
                without gradients, so that training sees the mistakes generation feeds back
                (exposure bias; Bengio et al. 2015). The targets stay the real codes.
            generator: the draws' random generator (with `own_history`).
        """
        batch, num_codebooks, frames = codes.shape
        if num_codebooks != self.config.num_codebooks:
            raise EmogenError(
                f"codes have {num_codebooks} codebooks, the model {self.config.num_codebooks}"
            )
        aligned = self.config.phoneme_alignment
        if aligned and frame_phonemes is None:
            raise EmogenError("a model with phoneme_alignment needs frame_phonemes")
        device = codes.device
        steps = frames + num_codebooks  # the delayed frames and codebook 0's END
        advances = torch.full((batch, steps), -100, dtype=torch.long, device=device)
        targets = torch.full((batch, num_codebooks, steps), -100, dtype=torch.long, device=device)
        inputs = torch.full(
            (batch, num_codebooks, steps), self.bos, dtype=torch.long, device=device
        )
        for row in range(batch):
            length = int(code_lengths[row])
            delayed = delay_codes(codes[row, :, :length].cpu(), self.bos, self.end).to(device)
            count = delayed.shape[1]
            # supervised: real codes, and codebook 0's END right after its last frame
            for level in range(num_codebooks):
                targets[row, level, level : level + length] = codes[row, level, :length]
            targets[row, 0, length] = self.end
            inputs[row, :, 1 : count + 1] = delayed
            inputs[row, :, count + 1 :] = self.end
        pointed = None
        if aligned:
            pointed = torch.stack(
                [
                    self._pointer_inputs(
                        tokens[row, : int(token_lengths[row])],
                        self._input_pointers(frame_phonemes[row], int(code_lengths[row]),
                                             int(token_lengths[row]), steps, advances[row]),
                    )
                    for row in range(batch)
                ]
            )  # fmt: skip
        prompt = self._prompt(condition, tokens)
        starts = [self.config.prefix_length + int(length) for length in token_lengths]

        def run(inputs: torch.Tensor) -> torch.Tensor:  # `(B, S, H)` hidden states of the audio
            audio = self._frame_inputs(inputs) + (0 if pointed is None else pointed)
            rows = [torch.cat([prompt[row, : starts[row]], audio[row]]) for row in range(batch)]
            embeddings = prompt.new_zeros(batch, max(map(len, rows)), self.config.hidden_size)
            mask = torch.zeros(embeddings.shape[:2], dtype=torch.long, device=device)
            for row, embedded in enumerate(rows):
                embeddings[row, : len(embedded)] = embedded
                mask[row, : starts[row] + int(code_lengths[row]) + num_codebooks] = 1
            hidden = self.transformer(inputs_embeds=embeddings, attention_mask=mask)
            return torch.stack(
                [hidden.last_hidden_state[row, starts[row] : starts[row] + steps]
                 for row in range(batch)]
            )  # fmt: skip

        if own_history > 0:
            with torch.no_grad():
                scores = self._logits(run(inputs))[..., : self.config.codebook_size].float()
            drawn = (
                torch.multinomial(
                    scores.softmax(-1).reshape(-1, scores.shape[-1]).cpu(), 1, generator=generator
                )
                .view(batch, steps, num_codebooks)
                .transpose(1, 2)
                .to(device)
            )
            # the draw at step s for codebook q is that codebook's input at step s + 1
            chosen = torch.rand(targets.shape, generator=generator).to(device) < own_history
            chosen &= (targets >= 0) & (targets < self.config.codebook_size)
            inputs = inputs.clone()
            inputs[:, :, 1:] = torch.where(chosen[:, :, :-1], drawn[:, :, :-1], inputs[:, :, 1:])
        audio_hidden = run(inputs)
        logits = self._logits(audio_hidden)  # (B, S, Q, K + 2)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.transpose(1, 2).reshape(-1),
            ignore_index=-100,
        )
        if aligned:
            advance_logits = self.advance_head(audio_hidden)
            loss = loss + F.cross_entropy(
                advance_logits.reshape(-1, advance_logits.shape[-1]),
                advances.reshape(-1),
                ignore_index=-100,
            )
        return CodecLanguageModelOutput(loss, logits)

    def _input_pointers(
        self,
        frame_phonemes: torch.Tensor,
        length: int,
        num_phonemes: int,
        steps: int,
        advances: torch.Tensor,
    ) -> torch.Tensor:
        """`(steps,)` pointers a row's audio steps read (the previous frame's phoneme: 0 at
        the first step, past the end after the last frame), writing the advance each step must
        predict into `advances` (the pointer passes the last phoneme at the END step)."""
        owner = frame_phonemes[:length].clamp(0, num_phonemes - 1)
        pointers = torch.full((steps,), num_phonemes, dtype=torch.long, device=owner.device)
        pointers[0] = 0
        pointers[1 : length + 1] = owner
        reached = torch.cat([owner, owner.new_tensor([num_phonemes])])  # after steps 0 .. length
        advances[: length + 1] = (reached - pointers[: length + 1]).clamp(
            0, self.config.max_advance
        )
        return pointers

    @torch.no_grad()
    def generate(
        self,
        tokens: Sequence[torch.Tensor],
        condition: torch.Tensor,
        null_condition: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        temperature: float = 1.0,
        top_k: int | None = 50,
        top_p: float | None = None,
        max_frames: int = 1000,
        min_frames: int = 1,
        generator: torch.Generator | None = None,
        frame_phonemes: Sequence[torch.Tensor] | None = None,
        phoneme_prior_scale: float = 0.0,
        guided_levels: Sequence[int] | None = None,
        max_phoneme_frames: int | None = None,
        return_pointers: bool = False,
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample codec frames for a batch of phoneme sequences.

        Args:
            tokens: B sequences of phoneme ids (any lengths: prompts are left-padded).
            condition: `(B, E)` emotion conditions.
            null_condition: `(B, E)` unconditional prefix conditions (the encoder's null
                emotion); needed when `guidance_scale != 1`.
            guidance_scale: classifier-free guidance on the emotion (1: none).
            temperature: softmax temperature (> 0).
            top_k: keep the k most likely entries (None: all); 1 is greedy decoding.
            top_p: keep the smallest set with this much probability (nucleus; None: all).
                The pointer's advances are drawn at `temperature` without top-k or top-p.
            max_frames: stop a row after this many frames.
            min_frames: END is not accepted before this many frames.
            generator: the sampling's random generator.
            frame_phonemes: with `phoneme_alignment`, B tensors `(T_b,)` of the phoneme each
                frame is to belong to (durations from elsewhere, as a FastSpeech duration
                predictor's): the pointer follows them instead of its sampled advances and
                row b has exactly T_b frames.
            phoneme_prior_scale: with `phoneme_alignment` and `phoneme_prior`, add this times
                log p(pointed phoneme | code) to the first level's logits: classifier guidance
                (Dhariwal & Nichol 2021) by a count table, as shallow fusion adds an external
                model's scores in ASR (Gulcehre et al. 2015). Free-running generation drifts
                from the phoneme it points at (teacher-forced predictions are far better); the
                prior pulls each frame back to codes heard for that phoneme. 0: none.
            guided_levels: the codec levels guidance applies to (None: all); the others, and
                the pointer's advances when level 0 is not among them, are drawn from the
                conditional model alone.
            max_phoneme_frames: with `phoneme_alignment`, the pointer moves on by one after
                this many frames on one phoneme (None: never forced). Low temperatures sharpen
                the per-frame advance towards "stay", and on slow speech a row could hold one
                phoneme until `max_frames` (silence or babble of seconds).
            return_pointers: with `phoneme_alignment`, also return where the pointer was.

        Returns:
            B tensors of `(Q, T_b)` codes; with `return_pointers`, also B tensors `(T_b,)` of the
            phoneme (index into the row's tokens) each frame was drawn for, which a codec that
            reads phonemes is told (`WorldFrameCodec.phonemes`).
        """
        if temperature <= 0:
            raise EmogenError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise EmogenError(f"top_k must be >= 1 or None, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise EmogenError(f"top_p must be in (0, 1] or None, got {top_p}")
        if phoneme_prior_scale < 0:
            raise EmogenError(f"phoneme_prior_scale must be >= 0, got {phoneme_prior_scale}")
        if return_pointers and not self.config.phoneme_alignment:
            raise EmogenError("return_pointers needs a model trained with phoneme_alignment")
        if max_phoneme_frames is not None and max_phoneme_frames < 1:
            raise EmogenError(f"max_phoneme_frames must be >= 1 or None, got {max_phoneme_frames}")
        if phoneme_prior_scale > 0 and not (
            self.config.phoneme_alignment and self.config.phoneme_prior
        ):
            raise EmogenError(
                "phoneme_prior_scale > 0 needs a model with phoneme_alignment and a "
                "phoneme_prior (train.py writes one for aligned data); give 0"
            )
        guided = guidance_scale != 1.0
        if guided and null_condition is None:
            raise EmogenError("guidance_scale != 1 needs null_condition")
        batch, num_codebooks = len(tokens), self.config.num_codebooks
        levels = list(range(num_codebooks)) if guided_levels is None else list(guided_levels)
        if any(not 0 <= level < num_codebooks for level in levels):
            raise EmogenError(f"guided_levels must be in [0, {num_codebooks}), got {levels}")
        device = self.device
        aligned = self.config.phoneme_alignment
        row_tokens = [sequence.to(device) for sequence in tokens]
        if frame_phonemes is not None:
            frame_phonemes = _check_frame_phonemes(frame_phonemes, row_tokens, aligned)
            max_frames = max(len(owners) for owners in frame_phonemes)
        pointers = torch.zeros(batch, dtype=torch.long, device=device)
        held = torch.zeros(batch, dtype=torch.long)  # frames each row's pointer has stayed
        if guided:
            tokens = [*tokens, *tokens]
            condition = torch.cat([condition, null_condition])
        # left-padded prompts: every row's audio starts at the same step
        prompts = [
            self._prompt(condition[row : row + 1].to(device), sequence[None].to(device))[0]
            for row, sequence in enumerate(tokens)
        ]
        width = max(len(prompt) for prompt in prompts)
        embeddings = prompts[0].new_zeros(len(prompts), width, self.config.hidden_size)
        mask = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
        for row, prompt in enumerate(prompts):
            embeddings[row, width - len(prompt) :] = prompt
            mask[row, width - len(prompt) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.transformer(
            inputs_embeds=embeddings, attention_mask=mask, position_ids=positions, use_cache=True
        )
        cache, position = out.past_key_values, positions[:, -1:] + 1
        previous = torch.full(
            (len(tokens), num_codebooks, 1), self.bos, dtype=torch.long, device=device
        )
        delayed: list[torch.Tensor] = []
        trace: list[torch.Tensor] = []  # the pointers of each step's frame
        lengths = torch.full((batch,), -1, dtype=torch.long)  # frames per row once END is drawn
        for step in range(max_frames + num_codebooks):
            mask = torch.cat([mask, mask.new_ones(len(tokens), 1)], 1)
            inputs = self._frame_inputs(previous)
            if aligned:
                pointed = torch.cat(
                    [self._pointer_inputs(t, pointers[row : row + 1])
                     for row, t in enumerate(row_tokens)]
                )  # fmt: skip
                inputs = inputs + (torch.cat([pointed, pointed]) if guided else pointed)[:, None]
            out = self.transformer(
                inputs_embeds=inputs,
                attention_mask=mask,
                position_ids=position,
                past_key_values=cache,
                use_cache=True,
            )
            cache, position = out.past_key_values, position + 1
            last = out.last_hidden_state[:, -1]
            logits = self._logits(last).float()  # (B', Q, K + 2)
            if guided:
                conditional, unconditional = logits[:batch], logits[batch:]
                logits = conditional.clone()
                logits[:, levels] = unconditional[:, levels] + guidance_scale * (
                    conditional[:, levels] - unconditional[:, levels]
                )
            if aligned:  # the pointer's advance, sampled as the codes are
                moves = self.advance_head(last).float()
                if guided and 0 in levels:
                    moves = moves[batch:] + guidance_scale * (moves[:batch] - moves[batch:])
                elif guided:
                    moves = moves[:batch]
                # drawn at the temperature but never truncated: under greedy decoding
                # (top-k 1) the likelier "stay" would hold the pointer on one phoneme for ever
                advance = _sample(moves, temperature, None, None, generator)
                for row in range(batch):
                    if lengths[row] >= 0:
                        continue
                    if frame_phonemes is not None:  # frame `step`'s phoneme; past the end: END
                        owners = frame_phonemes[row]
                        ends = len(row_tokens[row])
                        pointers[row] = int(owners[step]) if step < len(owners) else ends
                        continue
                    moved = int(advance[row])
                    held[row] = 0 if moved else held[row] + 1
                    if max_phoneme_frames is not None and held[row] >= max_phoneme_frames:
                        moved, held[row] = 1, 0
                    pointers[row] += moved
                    if step < min_frames:
                        pointers[row] = pointers[row].clamp(max=len(row_tokens[row]) - 1)
                trace.append(pointers.cpu().clone())  # .cpu() alone aliases on a CPU
            chosen = torch.empty(batch, num_codebooks, dtype=torch.long, device=device)
            for level in range(num_codebooks):
                scores = logits[:, level].clone()
                if level == 0 and phoneme_prior_scale > 0:
                    pointed = torch.stack(
                        [t[pointers[row].clamp(max=len(t) - 1)] for row, t in enumerate(row_tokens)]
                    )
                    prior = self.phoneme_log_prior[pointed].to(scores)
                    scores[:, : self.config.codebook_size] += phoneme_prior_scale * prior
                scores[:, self.bos] = -float("inf")  # never sampled
                if level > 0 or step < min_frames or aligned:  # aligned: the pointer ends
                    scores[:, self.end] = -float("inf")
                chosen[:, level] = _sample(scores, temperature, top_k, top_p, generator)
            for row in range(batch):
                frame_of = [step - level for level in range(num_codebooks)]
                for level in range(num_codebooks):
                    if frame_of[level] < 0:
                        chosen[row, level] = self.bos
                    elif lengths[row] >= 0 and frame_of[level] >= lengths[row]:
                        chosen[row, level] = self.end
                if aligned and lengths[row] < 0 and pointers[row] >= len(row_tokens[row]):
                    chosen[row, 0] = self.end
                if lengths[row] < 0 and (chosen[row, 0] == self.end or step == max_frames):
                    lengths[row] = step
                    chosen[row, 0] = self.end
            delayed.append(chosen.cpu())
            if (lengths >= 0).all() and step >= int(lengths.max()) + num_codebooks - 2:
                break
            previous = chosen[:, :, None]
            if guided:
                previous = torch.cat([previous, previous])
        sequence = torch.stack(delayed, -1)  # (B, Q, S)
        codes = [undelay_codes(sequence[row], int(lengths[row])) for row in range(batch)]
        if not return_pointers:
            return codes
        steps = torch.stack(trace, -1)  # (B, S)
        return codes, [
            steps[row, : int(lengths[row])].clamp(max=len(row_tokens[row]) - 1)
            for row in range(batch)
        ]


def phoneme_prior_table(
    tokens: Sequence[torch.Tensor],
    codes: Sequence[torch.Tensor],
    frame_phonemes: Sequence[torch.Tensor],
    phoneme_vocab_size: int,
    codebook_size: int,
    smoothing: float = 0.1,
) -> torch.Tensor:
    """`(phoneme_vocab_size, codebook_size)` log p(phoneme | first-level code), counted over
    sentences: each sentence's `(P,)` phoneme ids, `(Q, T)` codes and `(T,)` frame owners
    (indices into its phonemes), with `smoothing` added to every count (a code never seen
    gives every phoneme the same probability)."""
    counts = torch.zeros(codebook_size, phoneme_vocab_size, dtype=torch.float64)
    for ids, frames, owners in zip(tokens, codes, frame_phonemes, strict=True):
        heard = torch.as_tensor(ids)[torch.as_tensor(owners)]
        counts.index_put_(
            (torch.as_tensor(frames)[0], heard), torch.ones(len(heard), dtype=torch.float64),
            accumulate=True,
        )  # fmt: skip
    counts += smoothing
    return (counts / counts.sum(1, keepdim=True)).log().T.float().contiguous()


def _check_frame_phonemes(
    frame_phonemes: Sequence[torch.Tensor], tokens: Sequence[torch.Tensor], aligned: bool
) -> list[torch.Tensor]:
    """Each row's frame owners as a list of 1-D tensors, checked against its phonemes."""
    if not aligned:
        raise EmogenError("frame_phonemes needs a model trained with phoneme_alignment")
    if len(frame_phonemes) != len(tokens):
        raise EmogenError(
            f"got frame_phonemes for {len(frame_phonemes)} rows and tokens for {len(tokens)}"
        )
    checked = []
    for row, (owners, sequence) in enumerate(zip(frame_phonemes, tokens, strict=True)):
        owners = torch.as_tensor(owners, dtype=torch.long).cpu()
        if owners.ndim != 1 or len(owners) == 0:
            raise EmogenError(f"frame_phonemes[{row}] must be a non-empty 1-D tensor")
        if (owners.diff() < 0).any() or owners[0] < 0 or owners[-1] >= len(sequence):
            raise EmogenError(
                f"frame_phonemes[{row}] must not decrease and must lie in 0 .. "
                f"{len(sequence) - 1} (its phonemes)"
            )
        checked.append(owners)
    return checked


def _sample(
    scores: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One id per row of `(B, V)` scores: temperature, then top-k, then nucleus (top-p)
    filtering (Holtzman et al. 2020), then a draw."""
    scores = scores / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, -1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p is not None and top_p < 1:
        ordered, order = torch.sort(scores, descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        # drop an entry when the ones before it already hold top_p (the first always stays)
        drop = cumulative - ordered.softmax(-1) >= top_p
        scores = scores.masked_fill(drop.scatter(-1, order, drop), -float("inf"))
    probabilities = scores.softmax(-1)
    return torch.multinomial(probabilities.cpu(), 1, generator=generator)[:, 0].to(scores.device)
