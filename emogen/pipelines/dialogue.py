"""`EmpatheticDialoguePipeline`: a user message -> a supportive reply and its emotion plan."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ..dialogue.conversation import Conversation, Message
from ..dialogue.language_model import CausalLMResponder
from ..dialogue.planner import EmotionPlanner, Personality, as_personality, negative_count
from ..dialogue.responders import ReplyRequest, TemplateResponder, fixed_reply
from ..dialogue.safety import (
    DEFAULT_MAX_CHARS,
    CrisisScreen,
    check_message,
    is_crisis,
    is_english,
)
from ..emotion import Emotion, EmotionCurve, load_taxonomy
from ..emotion.directions import DirectionBank
from ..emotion.taxonomy import NEUTRAL
from ..emotion.text import TextEmotion, recognize_text, split_sentences
from ..emotion.text_model import TextEmotionModel

__all__ = ["DialogueTurn", "EmpatheticDialoguePipeline"]

_GREETING = {"hi", "hello", "hey", "hiya", "good morning", "good evening", "good afternoon",
             "hi there", "hello there", "hey there", "howdy", "yo"}  # fmt: skip


@dataclass
class DialogueTurn(BaseOutput):
    """One reply of `EmpatheticDialoguePipeline`.

    Args:
        text: the reply.
        user_emotion: the user's recognised emotion (with the conversation's context).
        response_emotion: the reply's planned emotion (effective VAD, named by the nearest reply
            category).
        strategy: the ESConv support strategy of the reply.
        plan: the reply's emotion sentence by sentence, an `EmotionCurve` over sentences that
            `EmotionalTTSPipeline` and the talking head take as the emotion.
        sentences: the reply's sentences (what `plan` indexes).
        cues: the words that carried the user's emotion.
        kind: "reply", "safety" (a crisis message), "language" (not English) or "greeting".
    """

    text: str
    user_emotion: Emotion
    response_emotion: Emotion
    strategy: str
    plan: EmotionCurve
    sentences: list[str] = field(default_factory=list)
    cues: tuple[str, ...] = ()
    kind: str = "reply"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (`emogen chat --json`)."""
        return {
            "text": self.text,
            "strategy": self.strategy,
            "kind": self.kind,
            "user_emotion": _emotion_dict(self.user_emotion),
            "response_emotion": _emotion_dict(self.response_emotion),
            "cues": list(self.cues),
            "sentences": self.sentences,
            "plan": self.plan.to_dict(),
        }


class EmpatheticDialoguePipeline(DiffusionPipeline):
    """Empathetic dialogue: recognise the user's emotion, plan the reply's, write the reply.

    Steps per message: (1) check it (length, control characters); (2) recognise its emotion with
    emogen's text recognizer, the fine-tuned `recognizer` and the previous user turn as context
    (`recognize`); (3) a crisis message gets a safety reply and a non-English one says
    what is supported, whatever the backend; (4) plan the response emotion (personality-affected
    transition + polarity mimicry) and the ESConv strategy with the `planner`; (5) write the reply
    with the `responder`; (6) plan each sentence's emotion.

    Config: `max_chars`; `recognizer_weight` (8.0), chosen on the dialogue dev set
    (benchmarks/dialogue: 0 / 2 / 4 / 8 / 16 gave 37.2 / 42.5 / 45.1 / 46.9 / 46.0 % category
    accuracy and 61.9 / 70.8 / 72.6 / 76.1 / 77.0 % valence-sign agreement); `context_weight`
    (1.5): on that set, with the shipped recognizer, 0 / 1.5 / 3 give 47.8 / 46.9 / 46.0 % and
    76.1 / 76.1 / 75.2 %, within a turn or two of each other on its 16 context-dependent turns
    (it helped the text recognizer alone: 31.2 -> 37.5 % on them); `seed`.

    Components:
        planner: `EmotionPlanner` (personality, emotion transition, strategy).
        recognizer: optional `TextEmotionModel`, the fine-tuned encoder that reads chat turns
            (training/text_emotion); its evidence joins the text recognizer's.
        responder: `TemplateResponder` (offline, the default) or `CausalLMResponder` (a local
            chat model; `from_causal_lm`).
        steering: optional `DirectionBank` on the causal LM's hidden states (activation
            steering towards the planned emotion; `CausalLMResponder.fit_steering`).
        screen: optional `CrisisScreen`, the learned crisis screen beside the patterns
            (training/crisis_screen); a message either flags gets the safety reply.

    Example:
        >>> pipe = load_pipeline("dialogue")
        >>> conversation = Conversation()
        >>> turn = pipe("My dog died on Sunday.", conversation=conversation)
        >>> turn.text, turn.strategy, turn.response_emotion.category
        >>> tts(turn.text, emotion=turn.plan)  # the voice follows the plan sentence by sentence
    """

    _optional_components: ClassVar[list[str]] = ["recognizer", "steering", "screen"]

    def __init__(
        self,
        planner: EmotionPlanner,
        responder: TemplateResponder | CausalLMResponder,
        recognizer: TextEmotionModel | None = None,
        steering: DirectionBank | None = None,
        screen: CrisisScreen | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        context_weight: float = 1.5,
        recognizer_weight: float = 8.0,
        seed: int = 0,
    ):
        super().__init__()
        self.register_modules(
            planner=planner,
            responder=responder,
            recognizer=recognizer,
            steering=steering,
            screen=screen,
        )
        self.register_to_config(
            max_chars=max_chars,
            context_weight=context_weight,
            recognizer_weight=recognizer_weight,
            seed=seed,
        )

    @classmethod
    def from_default(cls, **kwargs: Any) -> EmpatheticDialoguePipeline:
        """The offline pipeline built in code (`pipelines/dialogue` adds the trained `recognizer`
        and `screen`)."""
        kwargs.setdefault("planner", EmotionPlanner())
        kwargs.setdefault("responder", TemplateResponder())
        return cls(**kwargs)

    @classmethod
    def from_causal_lm(
        cls, model_path: str, steer: bool = True, **responder_kwargs: Any
    ) -> EmpatheticDialoguePipeline:
        """The pipeline on a local chat model (`CausalLMResponder`), with its steering bank
        fitted now on the recognizer's labelled examples unless `steer` is False. Save it with
        `save_pretrained` to keep the bank (the model itself stays where it is)."""
        responder = CausalLMResponder(model_path=str(model_path), **responder_kwargs)
        steering = responder.fit_steering() if steer else None
        return cls(planner=EmotionPlanner(), responder=responder, steering=steering)

    def __call__(
        self,
        message: str,
        conversation: Conversation | None = None,
        personality: str | Mapping[str, float] | Personality | None = None,
        seed: int | None = None,
        return_dict: bool = True,
    ) -> DialogueTurn | tuple:
        """Reply to one user message.

        Args:
            message: the user's message (at most `max_chars` characters).
            conversation: the conversation so far; the message and the reply are appended to it.
                None: a conversation of one turn.
            personality: the agent's personality for this turn: a preset ("warm", "calm",
                "cheerful", "neutral") or Big Five traits in [-1, 1]; default the planner's.
            seed: seed of the responder's choices (default the pipeline's `seed`).
            return_dict: False returns `(text, plan)`.

        Returns:
            `DialogueTurn`.

        Raises:
            DialogueError: an empty, too long or non-text message, or a bad personality.
        """
        # 1. check inputs
        message = check_message(message, self.config.max_chars)
        conversation = conversation if conversation is not None else Conversation()
        personality = as_personality(personality) if personality is not None else None
        seed = self.config.seed if seed is None else seed
        before = Conversation(list(conversation))

        # 2. the user's emotion, with context
        recognised = self.recognize(message, before)
        user, cues = recognised.emotion, recognised.cues

        # 3. messages that get a fixed kind of reply
        previous = before.last("assistant")
        previous_emotion = previous.emotion if previous is not None else None
        kind = self._kind(message, recognised)
        if kind != "reply":
            response = self.planner.response_emotion(user, previous_emotion, personality)
            strategy = {"safety": "information", "language": "others", "greeting": "question"}[kind]
            text = fixed_reply(kind, before, seed)
            sentences = split_sentences(text)
            crisis = kind == "safety"  # steady calm warmth, whatever came before
            plan = self.planner.sentence_plan(response, user, len(sentences), personality, crisis)
            if crisis:
                response = plan.keyframes[0].emotion
        else:
            # 4. plan the reply's emotion and strategy
            response = self.planner.response_emotion(user, previous_emotion, personality)
            negative = negative_count([m.emotion for m in before.by("user") if m.emotion])
            strategy = self.planner.choose_strategy(
                message,
                user,
                negative if user.vad[0] < -0.05 else 0,
                previous.strategy if previous is not None else None,
            )
            # 5. write it
            request = ReplyRequest(
                message, user, cues, response, strategy, before, seed, recognised.embedding
            )
            sentences = self.responder.reply(request, steering=getattr(self, "steering", None))
            text = " ".join(sentences)
            # 6. its emotion sentence by sentence
            plan = self.planner.sentence_plan(response, user, len(sentences), personality)

        conversation.add(Message("user", message, user, cues=cues))
        conversation.add(Message("assistant", text, response, strategy))
        turn = DialogueTurn(text, user, response, strategy, plan, sentences, cues, kind)
        if not return_dict:
            return text, plan
        return turn

    def recognize(self, message: str, conversation: Conversation) -> TextEmotion:
        """The message's emotion given the conversation.

        Log-probabilities over the recognised categories add up: the text recognizer's
        (`recognize_text`), `recognizer_weight` x the fine-tuned `recognizer`'s (when the
        pipeline has one: it learned the chat register), and `context_weight` nats for the
        previous user turn's category (a short follow-up, "I keep looking at his bowl.", says
        little on its own; the feeling of the turn before is its best prior). A surprise takes
        its valence from the recognizer's valence head (surprises are good or bad by what
        surprised).
        """
        result = recognize_text(message)
        logits = {c: math.log(max(p, 1e-12)) for c, p in result.probabilities.items()}
        reasons = [result.reason]
        recognizer = getattr(self, "recognizer", None)
        weight = float(self.config.recognizer_weight)
        valences = None
        if recognizer is not None and weight > 0:
            categories, valence = recognizer.predict([message])
            for name, p in zip(recognizer.labels, categories[0]):
                if name in logits:
                    logits[name] += weight * math.log(max(float(p), 1e-12))
            valences = valence[0]
            reasons.append(f"fine-tuned model: {recognizer.labels[int(categories[0].argmax())]}")
        previous = conversation.last("user")
        carried = None
        if (
            previous is not None
            and previous.emotion is not None
            and not previous.emotion.is_neutral
        ):
            carried = previous.emotion.category
            if carried in logits and self.config.context_weight > 0:
                logits[carried] += float(self.config.context_weight)
                reasons.append(f"context: the previous turn was {carried}")
        total = np.logaddexp.reduce(np.array(list(logits.values())))
        probabilities = {c: float(math.exp(v - total)) for c, v in logits.items()}
        probabilities = dict(sorted(probabilities.items(), key=lambda item: -item[1]))
        top = next(iter(probabilities))
        if top == result.category:
            emotion = result.emotion
        elif top == NEUTRAL:
            emotion = Emotion.neutral()
        else:
            intensity = 0.6 if result.emotion.is_neutral else result.emotion.intensity
            if top == carried and result.emotion.is_neutral:
                intensity = 0.8 * previous.emotion.intensity
            emotion = Emotion.from_category(top, intensity=min(1.0, intensity))
        if top == "surprised" and valences is not None:
            unpleasant = valences[0] > valences[2]
            if unpleasant == (emotion.valence > 0):
                emotion = replace(emotion, valence=-emotion.valence)
        return replace(
            result, emotion=emotion, probabilities=probabilities, reason="; ".join(reasons)
        )

    def _kind(self, message: str, recognised: TextEmotion) -> str:
        if is_crisis(message):
            return "safety"
        screen = getattr(self, "screen", None)
        if screen is not None:
            # The recognizer's embedding is the message's own unless negated words were hidden
            # from it ("I'm not scared to die" must reach the screen whole).
            own = None if recognised.embedding_masked else recognised.embedding
            if screen.flags(message, own):
                return "safety"
        if not is_english(message):
            return "language"
        if " ".join(message.lower().strip(" .!?,").split()) in _GREETING:
            return "greeting"
        return "reply"


def _emotion_dict(emotion: Emotion) -> dict[str, Any]:
    data = emotion.to_dict()
    if data["category"] is None:
        data["category"] = load_taxonomy().nearest(emotion.vad)
    return data
