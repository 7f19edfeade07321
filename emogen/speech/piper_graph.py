"""Load-time edits of a Piper voice's ONNX graph: phoneme durations out, noise in.

Piper exports its VITS voices (Kim et al. 2021) with the audio as the only output and samples the
model's Gaussian noise inside the graph. `PiperVoice` needs two things that export does not give,
so `edit_piper_graph` makes two edits with the `onnx` package when a voice is loaded:

1. Durations out. The output of the graph's one `Ceil` node is VITS's `w_ceil`, the frames
   predicted for each phoneme id, `(1, 1, num_ids)`. It becomes a second graph output, which gives
   each phoneme's start and end time (the alignment the talking head's visemes follow).
2. Noise in. VITS draws noise in two `RandomNormalLike` nodes: the stochastic duration
   predictor's (the one `Ceil` depends on) and the prior's. onnxruntime seeds them once per
   session from a global seed, so a per-call seed would mean rebuilding the session (about 3 s for
   the joe voice). Each node `RandomNormalLike(x)` becomes `Slice(noise, [0, 0, 0], Shape(x))`,
   where `noise` is a new float input `(1, channels, frames)` at least as large as `x`, which the
   caller draws from its seed with numpy. Seeding is then per call and free.

A graph without this structure (another export, another model) is kept as it is, and `PiperGraph`
says what could not be done: no `duration_output` (no alignment) or no `noise_inputs` (seeds go
through onnxruntime's global seed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

from ..errors import EmogenError

__all__ = ["PiperGraph", "edit_piper_graph"]

logger = logging.getLogger(__name__)

_SLICE_STARTS = "emogen/zeros"


@dataclass(frozen=True)
class PiperGraph:
    """What `edit_piper_graph` found in a voice's graph and made of it.

    Attributes:
        audio_output: name of the audio output (the graph's first), `(1, 1, num_samples)` float32.
        duration_output: name of the frames per phoneme id output, `(1, 1, num_ids)` float32, or
            None when the graph has no single `Ceil` node.
        noise_inputs: "duration" and "prior" -> name of that noise input, `(1, channels, frames)`
            float32, or None when the graph's noise nodes were not recognised.
        has_speaker_input: whether the graph takes a speaker id ("sid", multi-speaker voices).
    """

    audio_output: str
    duration_output: str | None
    noise_inputs: dict[str, str] | None
    has_speaker_input: bool


def edit_piper_graph(model_bytes: bytes) -> tuple[bytes, PiperGraph]:
    """Expose the durations and make the noise inputs, where the graph has the VITS structure.

    Args:
        model_bytes: a serialised ONNX model (the content of a Piper `.onnx` file).

    Returns:
        The edited model (`model_bytes` itself when the graph has no `Ceil` node to expose), and
        what was done.

    Raises:
        EmogenError: the bytes are not an ONNX model, or its graph has no outputs.
    """
    try:
        model = onnx.load_model_from_string(model_bytes)
    except DecodeError as error:
        raise EmogenError(f"the voice model is not valid ONNX: {error}") from None
    if not model.HasField("graph"):
        raise EmogenError("the voice model is not an ONNX model (no graph)")
    graph = model.graph
    if not graph.output:
        raise EmogenError("the voice model's graph has no outputs")
    audio_output = graph.output[0].name
    has_speaker_input = any(value.name == "sid" for value in graph.input)

    ceil_nodes = [node for node in graph.node if node.op_type == "Ceil"]
    if len(ceil_nodes) != 1:
        logger.info("no single Ceil node (found %d): no phoneme alignment", len(ceil_nodes))
        return model_bytes, PiperGraph(audio_output, None, None, has_speaker_input)

    # 1. Durations out.
    duration_output = ceil_nodes[0].output[0]
    graph.output.append(helper.make_tensor_value_info(duration_output, TensorProto.FLOAT, None))

    # 2. Noise in.
    noise_inputs = _replace_noise_nodes(graph, ceil_nodes[0])

    graph_info = PiperGraph(audio_output, duration_output, noise_inputs, has_speaker_input)
    return model.SerializeToString(), graph_info


def _replace_noise_nodes(graph: onnx.GraphProto, ceil: onnx.NodeProto) -> dict[str, str] | None:
    """Replace the duration predictor's and the prior's `RandomNormalLike` nodes by slices of
    new noise inputs; the names of those inputs, or None (graph unchanged) if the two nodes are
    not there."""
    upstream_of_ceil = _ancestors(graph, ceil)
    kinds = {
        index: "duration" if index in upstream_of_ceil else "prior"
        for index, node in enumerate(graph.node)
        if node.op_type == "RandomNormalLike"
    }
    if sorted(kinds.values()) != ["duration", "prior"]:
        logger.info("noise nodes not recognised (%s): seeds rebuild the session", [*kinds.values()])
        return None

    graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.int64), _SLICE_STARTS))
    noise_inputs = {}
    nodes = []
    for index, node in enumerate(graph.node):
        if index not in kinds:
            nodes.append(node)
            continue
        kind = kinds[index]
        noise, shape = f"emogen/{kind}_noise", f"emogen/{kind}_noise_shape"
        noise_inputs[kind] = noise
        graph.input.append(
            helper.make_tensor_value_info(
                noise, TensorProto.FLOAT, [1, "channels", f"{kind}_frames"]
            )
        )
        nodes.append(helper.make_node("Shape", [node.input[0]], [shape], name=shape))
        nodes.append(
            helper.make_node("Slice", [noise, _SLICE_STARTS, shape], [*node.output], name=noise)
        )
    del graph.node[:]
    graph.node.extend(nodes)
    return noise_inputs


def _ancestors(graph: onnx.GraphProto, target: onnx.NodeProto) -> set[int]:
    """Indices of the nodes of `graph` that `target` depends on."""
    producer = {name: index for index, node in enumerate(graph.node) for name in node.output}
    seen: set[int] = set()
    stack = [producer[name] for name in target.input if name in producer]
    while stack:
        index = stack.pop()
        if index not in seen:
            seen.add(index)
            stack.extend(producer[name] for name in graph.node[index].input if name in producer)
    return seen
