"""The public surface: pinned names, a light import, no framework imports in the core."""

from __future__ import annotations

import subprocess
import sys

import pytest

import imagevec

PUBLIC = [
    "AddOptions",
    "AddReport",
    "AllInputsFailedWarning",
    "CollectionNotFoundError",
    "ConfigError",
    "EncodeReport",
    "Encoder",
    "EncoderMismatchError",
    "Failure",
    "Hit",
    "ImageIndex",
    "ImageLoadError",
    "ImageTooLargeError",
    "ImagevecError",
    "ModelLoadError",
    "NoServerError",
    "NotFoundError",
    "NotIndexedError",
    "PhotoFilter",
    "Query",
    "RemoteIndex",
    "SearchIndex",
    "SearchRequest",
    "SkippedImageWarning",
    "SourcePolicy",
    "StoreLockedError",
    "StoreNotFoundError",
    "TOOL_MAX_K",
    "UnsafeSourceError",
    "UnsupportedModalityError",
    "VectorRecord",
    "__version__",
    "connect",
    "create_encoder",
    "distance_to_score",
    "encoder_stamp",
    "file_record",
    "hits_to_json",
    "collection_space",
    "is_image_file",
    "load_image",
]


def test_all_is_pinned() -> None:
    assert sorted(imagevec.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in PUBLIC:
        assert getattr(imagevec, name) is not None, name


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_is_light() -> None:
    result = _run(
        "import sys, imagevec; heavy = [m for m in ('torch', 'transformers', 'chromadb') "
        "if m in sys.modules]; print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow  # a fresh Python process
def test_core_never_imports_frameworks() -> None:
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('langchain_core', 'langchain', 'llama_index', 'torchvision'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import imagevec, imagevec.index, imagevec.store.chroma, imagevec.batching, imagevec.cli
import imagevec.evaluation, imagevec.training
from imagevec.encoders import registry, base, clip, vit, resnet
from imagevec.encoders.default import encoder, conse, efficientnet, minilm
print('ok')
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
