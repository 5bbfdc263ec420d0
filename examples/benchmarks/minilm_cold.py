"""The default's text tower, cold: numpy MiniLM vs an ONNX Runtime session over the same weights.

A text query in a fresh process (``imagevec search "a cat"``, an MCP tool call) pays for
loading the text tower. This exports all-MiniLM-L6-v2 (the bundled weights, mean pooling,
L2 norm) to ONNX once, then times new processes from start to the first vector, alternating
the two paths, and checks that both give the same vector.

Usage::

    python examples/benchmarks/minilm_cold.py [--runs 7] [--work /tmp/imagevec-minilm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NUMPY = """
from imagevec.encoders.default.minilm import MiniLM
vector = MiniLM().embed(["a photo of a cat"])[0]
print(vector[:3].tolist())
"""
ORT = """
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
from imagevec.encoders.default.minilm import model_dir
tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
tok.enable_truncation(max_length=256)
options = ort.SessionOptions()
options.log_severity_level = 3
session = ort.InferenceSession({graph!r}, sess_options=options, providers=["CPUExecutionProvider"])
enc = tok.encode("a photo of a cat")
ids = np.array([enc.ids], dtype=np.int64)
mask = np.array([enc.attention_mask], dtype=np.int64)
vector = session.run(None, {{"input_ids": ids, "attention_mask": mask}})[0][0]
print(vector[:3].tolist())
"""


def export(graph: Path) -> None:
    """all-MiniLM-L6-v2 (bundled) -> ONNX: BERT, mean over the mask, L2 norm."""
    import torch
    from transformers import AutoModel

    from imagevec.encoders.default.minilm import model_dir

    bert = AutoModel.from_pretrained(str(model_dir())).eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    ids = torch.ones(1, 8, dtype=torch.long)
    axes = {"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}}
    torch.onnx.export(
        Sentence(), (ids, torch.ones_like(ids)), str(graph), input_names=list(axes),
        output_names=["vector"], dynamic_axes=axes, opset_version=17, dynamo=False,
    )  # fmt: skip


def cold(code: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/imagevec-minilm"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    graph = args.work / "minilm.onnx"
    if not graph.exists():
        export(graph)
    times: dict[str, list[float]] = {"numpy": [], "onnxruntime": []}
    outputs = {}
    for _ in range(args.runs):  # alternating: both see the same machine load
        for name, code in (("numpy", NUMPY), ("onnxruntime", ORT.format(graph=str(graph)))):
            seconds, out = cold(code)
            times[name].append(seconds)
            outputs[name] = out
    print(
        json.dumps(
            {
                "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
                "min_s": {k: round(min(v), 3) for k, v in times.items()},
                "same_vector_head": outputs,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
