"""The inference engine: graphs exported from the torch modules, cached, verified, reused.

Parity with the torch forward per family and pooling (fp32 cosine >= 0.9999 on real photos),
the cache (reuse without export, a damaged graph exported again, two processes exporting at
once), precision (int8 offered where it keeps answers, refused with a typed error where it
does not; identity independent of precision) and the torch-free runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagevec
from imagevec.engine import RuntimeEncoder
from imagevec.engine.build import EXPORTS
from imagevec.engine.cache import MANIFEST
from imagevec.errors import PrecisionError
from tests.tiny_models import sample_photos, tiny_model

PARITY = 0.9999


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return list(sample_photos().values())


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return next(iter(sample_photos().values()))


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty graph cache for this test only."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("IMAGEVEC_CACHE", str(cache))
    return cache


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a * b).sum(axis=1).min())


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("clip", {}),
        ("clip", {"projection_dim": 8}),
        ("vit", {"pooling": "cls"}),
        ("vit", {"pooling": "mean"}),
        ("dinov2", {}),
        ("resnet", {"pooling": "avg"}),
        ("resnet", {"pooling": "max"}),
        ("resnet", {"pooling": "gem"}),
        ("resnet", {"pooling": "attention", "projection_dim": 8}),
    ],
)
def test_onnx_matches_torch_per_family_and_pooling(
    kind: str, options: dict, photos: list[Image.Image]
) -> None:
    folder = str(tiny_model(kind))
    runtime = imagevec.create_encoder(folder, device="cpu", **options)
    reference = imagevec.create_encoder(folder, device="cpu", engine="torch", **options)
    assert isinstance(runtime, RuntimeEncoder)
    assert runtime.identity == reference.identity
    assert _min_cosine(runtime.embed_images(photos), reference.embed_images(photos)) >= PARITY
    if "text" in runtime.modalities:
        texts = ["a photo of a cat", "", "coffee " * 100]  # empty and over-long texts too
        assert _min_cosine(runtime.embed_texts(texts), reference.embed_texts(texts)) >= PARITY


def test_default_runs_on_onnx_and_matches_torch(
    default_encoder: imagevec.Encoder, photos: list[Image.Image]
) -> None:
    from tests.support.shared import default_torch_encoder

    reference = default_torch_encoder()
    assert isinstance(default_encoder, RuntimeEncoder)
    assert default_encoder.identity == reference.identity
    got, want = default_encoder.embed_images(photos), reference.embed_images(photos)
    assert _min_cosine(got, want) >= PARITY
    texts = ["a cat", "a cup of coffee"]
    assert np.allclose(default_encoder.embed_texts(texts), reference.embed_texts(texts), atol=1e-5)
    assert default_encoder.query_reach("text") == pytest.approx(reference.query_reach("text"))


def test_test_colour_encoder_exports_and_keeps_its_text_path(colour_dir: Path) -> None:
    enc = imagevec.create_encoder("test-color", device="cpu")
    assert isinstance(enc, RuntimeEncoder)
    red = enc.embed_images([colour_dir / "red.png"])
    assert (enc.embed_texts(["red", "blue"]) @ red.T).argmax() == 0


def test_second_open_reuses_the_cached_graph(fresh_cache: Path, image: Image.Image) -> None:
    folder = str(tiny_model("vit"))
    first = imagevec.create_encoder(folder, device="cpu")
    graph = first.folder / "image.fp32.onnx"
    stamp = graph.stat().st_mtime_ns
    exports = EXPORTS["count"]
    second = imagevec.create_encoder(folder, device="cpu")
    assert EXPORTS["count"] == exports and graph.stat().st_mtime_ns == stamp
    assert second.fingerprint == first.fingerprint
    assert str(graph).startswith(str(fresh_cache))
    # rebuilt from its config (a worker process): the cache again, no export
    clone = imagevec.create_encoder(**first.config)
    assert EXPORTS["count"] == exports
    assert np.allclose(clone.embed_images([image]), first.embed_images([image]), atol=1e-6)


def test_a_truncated_graph_is_exported_again(fresh_cache: Path, image: Image.Image) -> None:
    folder = str(tiny_model("resnet"))
    enc = imagevec.create_encoder(folder, device="cpu")
    want = enc.embed_images([image])
    graph = enc.folder / "image.fp32.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    exports = EXPORTS["count"]
    again = imagevec.create_encoder(folder, device="cpu")
    assert EXPORTS["count"] == exports + 1
    assert np.allclose(again.embed_images([image]), want, atol=1e-5)


def test_a_damaged_graph_of_the_same_size_is_exported_again(
    fresh_cache: Path, image: Image.Image
) -> None:
    folder = str(tiny_model("resnet"))
    enc = imagevec.create_encoder(folder, device="cpu")
    want = enc.embed_images([image])
    graph = enc.folder / "image.fp32.onnx"
    graph.write_bytes(b"\xff" * graph.stat().st_size)  # same size: found when it is loaded
    again = imagevec.create_encoder(folder, device="cpu")
    with pytest.warns(UserWarning, match="damaged"):
        got = again.embed_images([image])
    assert np.allclose(got, want, atol=1e-5)


def test_a_graph_that_fails_verification_keeps_torch(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, image: Image.Image
) -> None:
    from imagevec.engine import build

    monkeypatch.setattr(build, "MIN_PARITY", 1.5)  # no graph can pass
    folder = str(tiny_model("vit"))
    with pytest.warns(UserWarning, match="not used"):
        enc = imagevec.create_encoder(folder, device="cpu")
    assert not isinstance(enc, RuntimeEncoder) and enc.engine.startswith("torch")
    manifest = json.loads(next(fresh_cache.glob(f"*/{MANIFEST}")).read_text())
    assert "rejected" in manifest
    exports = EXPORTS["count"]
    imagevec.create_encoder(folder, device="cpu")  # remembered: no second export
    assert EXPORTS["count"] == exports


def test_int8_is_offered_where_it_keeps_answers(
    fresh_cache: Path, photos: list[Image.Image]
) -> None:
    folder = str(tiny_model("vit"))
    fp32 = imagevec.create_encoder(folder, device="cpu")
    int8 = imagevec.create_encoder(folder, device="cpu", precision="int8")
    assert int8.engine.endswith("int8)") and int8.identity == fp32.identity
    entry = int8.manifest["image"]["int8"]
    assert entry["method"] == "dynamic" and entry["cosine"] >= 0.99
    assert float((int8.embed_images(photos) * fp32.embed_images(photos)).sum(1).mean()) >= 0.99


def test_int8_is_refused_for_the_cnn_families_with_a_typed_error(
    default_encoder: imagevec.Encoder,
) -> None:
    with pytest.raises(PrecisionError, match="default") as caught:
        imagevec.create_encoder("default", device="cpu", precision="int8")
    assert caught.value.family == "default" and caught.value.precision == "int8"
    with pytest.raises(PrecisionError, match="slower") as caught:
        imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", precision="int8")
    assert caught.value.family == "resnet"


def test_static_int8_is_calibrated_on_photos_and_checked(tmp_path: Path) -> None:
    from imagevec.engine.precision import mean_cosine, quantize_int8
    from imagevec.engine.sessions import IMAGE_INPUT, OUTPUT, open_session

    enc = imagevec.create_encoder(str(tiny_model("resnet")), device="cpu")
    source = enc.folder / "image.fp32.onnx"
    photos = np.stack([enc.preprocess.to_array(im) for im in sample_photos().values()])
    quantize_int8(source, tmp_path / "int8.onnx", "static", photos)
    fp32 = open_session(source).run([OUTPUT], {IMAGE_INPUT: photos})[0]
    int8 = open_session(tmp_path / "int8.onnx").run([OUTPUT], {IMAGE_INPUT: photos})[0]
    assert mean_cosine(fp32, int8) > 0.9


def test_int8_below_the_fidelity_bar_is_refused_and_remembered(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagevec.engine import load

    folder = str(tiny_model("clip"))
    monkeypatch.setattr(load, "MIN_COSINE", 1.01)  # no int8 graph can pass
    with pytest.raises(PrecisionError, match="clip") as caught:
        imagevec.create_encoder(folder, device="cpu", precision="int8")
    assert caught.value.family == "clip"
    assert not list(fresh_cache.glob("*/image.int8.onnx"))
    monkeypatch.setattr(load, "MIN_COSINE", 0.0)  # the refusal is recorded, not re-measured
    with pytest.raises(PrecisionError):
        imagevec.create_encoder(folder, device="cpu", precision="int8")


def test_unknown_precision_is_a_typed_error() -> None:
    with pytest.raises(PrecisionError, match="fp32"):
        imagevec.create_encoder("test-color", precision="fp8")


def test_bf16_only_where_the_cpu_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagevec.engine import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr("imagevec.engine.load.cpu_bf16_native", precision.cpu_bf16_native)
    with pytest.raises(PrecisionError, match="bfloat16"):
        imagevec.create_encoder(str(tiny_model("vit")), device="cpu", precision="bf16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    enc = imagevec.create_encoder(str(tiny_model("vit")), device="cpu", precision="bf16")
    assert enc.engine == "torch (cpu, bfloat16)"


def test_a_collection_written_in_int8_is_searched_in_fp32(tmp_path: Path, photo_dir: Path) -> None:
    folder = str(tiny_model("clip"))
    photos = sorted(photo_dir.glob("*.jpg"))[:6]
    with imagevec.ImageIndex(tmp_path / "db", encoder=folder, precision="int8") as index:
        assert index.add(photos).ok
        assert index.stamp is not None and index.stamp["precision"] == "int8"
    with imagevec.ImageIndex(tmp_path / "db") as index:  # fp32, from the stamp
        assert index.encoder.config["precision"] == "fp32"
        for photo in photos:
            top = index.search(image=photo, k=1)[0]
            assert Path(top.uri).name == photo.name and top.score >= 0.99


@pytest.mark.slow
def test_two_processes_exporting_at_once_export_once(tmp_path: Path) -> None:
    folder = str(tiny_model("vit"))
    script = textwrap.dedent(
        f"""
        import imagevec
        from imagevec.engine.build import EXPORTS
        enc = imagevec.create_encoder({folder!r}, device="cpu")
        vector = enc.embed_images([{str(tmp_path / "x.png")!r}])[0, :4]
        print(EXPORTS["count"], enc.fingerprint, vector)
        """
    )
    Image.new("RGB", (64, 48), (10, 120, 200)).save(tmp_path / "x.png")
    env = {**os.environ, "IMAGEVEC_CACHE": str(tmp_path / "cache")}
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].split(maxsplit=2) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert sorted(int(out[0]) for out in outputs) == [0, 1]  # one exported, one waited
    assert outputs[0][1:] == outputs[1][1:]


@pytest.mark.slow
def test_a_cached_graph_embeds_without_importing_torch(tmp_path: Path, colour_dir: Path) -> None:
    folders = {"clip": str(tiny_model("clip")), "default": "default"}
    for model in folders.values():
        imagevec.create_encoder(model, device="cpu")  # export into the shared test cache
    script = textwrap.dedent(
        f"""
        import sys, imagevec
        for model in {list(folders.values())!r}:
            enc = imagevec.create_encoder(model, device="cpu")
            assert type(enc).__name__ == "RuntimeEncoder", enc
            enc.embed_images([{str(colour_dir / "red.png")!r}])
            enc.embed_texts(["a red picture"])
            enc2 = imagevec.create_encoder(**enc.config)
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_quick_start_sessions_skip_prepacking_and_answer_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imagevec.engine import sessions

    enc = imagevec.create_encoder(str(tiny_model("clip")), device="cpu")
    graph = enc.folder / "image.fp32.onnx"
    photos = np.stack([enc.preprocess.to_array(im) for im in sample_photos().values()])
    monkeypatch.setattr(sessions, "_quick_start", False)
    packed = sessions.open_session(graph)
    sessions.prefer_quick_start()
    quick = sessions.open_session(graph)
    assert _config_entry(quick, "session.disable_prepacking") == "1"
    assert _config_entry(packed, "session.disable_prepacking") is None
    feed = {sessions.IMAGE_INPUT: photos}
    expected = packed.run([sessions.OUTPUT], feed)[0]
    np.testing.assert_allclose(quick.run([sessions.OUTPUT], feed)[0], expected, atol=1e-5)


def _config_entry(session: object, key: str) -> str | None:
    try:
        return session.get_session_options().get_session_config_entry(key)  # type: ignore[attr-defined]
    except RuntimeError:  # onnxruntime: "does not have configuration with key"
        return None


def test_the_text_graph_opens_while_the_image_graph_is_opening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from imagevec.engine import runtime

    enc = imagevec.create_encoder(str(tiny_model("clip")), device="cpu")
    assert isinstance(enc, RuntimeEncoder)
    enc._sessions.clear()  # a fresh process: nothing opened yet
    opening, release = threading.Event(), threading.Event()
    real_open = runtime.open_session

    def open_session(path: Path, **options: object) -> object:
        if Path(path).name.startswith("image"):  # the large graph, still being prepared
            opening.set()
            release.wait(10)
        return real_open(path, **options)

    monkeypatch.setattr(runtime, "open_session", open_session)
    image = threading.Thread(target=enc.session, args=("image",))
    image.start()
    try:
        assert opening.wait(10)
        assert enc.embed_texts(["a red square"]).shape == (1, enc.dim)
        assert image.is_alive()  # answered before the image graph was ready
    finally:
        release.set()
        image.join(10)
