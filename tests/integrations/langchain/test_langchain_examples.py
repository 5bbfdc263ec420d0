"""The two LangChain examples run end to end (fast: the colour encoder on the colour photos)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rag_example(colour_photos: Path, tmp_path: Path, color_encoder_instance: Any) -> None:
    example = load_example("langchain_rag")
    out = example.run(
        "Which one is blue?",
        colour_photos,
        example.EchoChatModel(),
        db=tmp_path / "db",
        encoder=color_encoder_instance,
        k=2,
    )
    assert Path(out["docs"][0].metadata["uri"]).name == "blue.png"
    assert out["answer"].startswith("[echo] 2 messages; I was shown 2 image(s) (64x48 JPEG")
    assert "Which one is blue?" in out["answer"] and "Image 1: blue.png" in out["answer"]


def test_agent_example(colour_photos: Path, color_encoder_instance: Any, capsys: Any) -> None:
    example = load_example("langchain_agent")
    messages = example.main(["--photos", str(colour_photos), "red"], encoder=color_encoder_instance)
    kinds = [type(m).__name__ for m in messages]
    assert kinds == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    search, similar = (json.loads(m.content) for m in messages if isinstance(m, ToolMessage))
    assert Path(search[0]["uri"]).name == "red.png"
    assert similar and search[0]["uri"] not in [hit["uri"] for hit in similar]  # not itself
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls
    assert "--- tool:" in capsys.readouterr().out
