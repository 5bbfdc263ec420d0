"""What the Hugging Face families (CLIP, ViT, ResNet) share.

:class:`HFEncoder` loads the backbone safely (:func:`imagevec.encoders.hub.from_pretrained`),
derives the preprocessing from the model's own image-processor config, places weights on the
device in the chosen dtype, attaches the optional projection head and writes the save format.
A family only says which class to load, how to pool, and what its layer groups are.

Save format (``encoder.save(folder)``; ``create_encoder(folder)`` loads it back)::

    folder/
      config.json, model.safetensors   the backbone (``save_pretrained``)
      preprocessor_config.json         the image-processor config the encoder uses
      tokenizer files                  CLIP only
      projection.safetensors           the projection head, if any
      imagevec.json                    {"format": 1, family, pooling, projection, base_model}

A fresh projection head (``projection_dim=N`` on a model without one) is initialised from a
fixed seed, so the same config gives the same head in every process; a saved head is loaded
from ``projection.safetensors``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from imagevec.encoders.base import Encoder
from imagevec.encoders.hub import from_pretrained, read_json
from imagevec.encoders.pooling import ProjectionHead, check_pooling, seeded_projection
from imagevec.encoders.registry import PROJECTION_FILE, SAVED_CONFIG, ModelRef
from imagevec.errors import ConfigError, ModelLoadError
from imagevec.preprocess import Preprocess

SAVE_FORMAT = 1
PROCESSOR_FILE = "preprocessor_config.json"


class HFEncoder(Encoder):
    """Base of the Hugging Face families: loading, placement, projection head, save.

    Subclasses set ``family``, ``poolings`` (the first is the default) and
    ``default_processor`` (used when a checkpoint has no ``preprocessor_config.json``), and
    implement :meth:`load_backbone`, :meth:`features` (pooled ``(B, C)`` image features, before
    the projection head) and :meth:`layer_groups`.

    Attributes:
        ref: where the model came from.
        backbone: the ``transformers`` model.
        projection: the optional :class:`~imagevec.encoders.pooling.ProjectionHead`.
        processor_config: the image-processor config the preprocessing was derived from.
    """

    family: ClassVar[str]
    #: the ``transformers`` model (its attributes are the family's: config, vision_model...)
    backbone: Any
    poolings: ClassVar[tuple[str, ...]]
    default_processor: ClassVar[dict[str, Any]]
    ignore_missing: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        ref: ModelRef,
        *,
        device: str = "auto",
        dtype: str = "float32",
        pooling: str | None = None,
        projection_dim: int | None = None,
        **options: Any,
    ) -> None:
        if options:
            raise ConfigError(f"unknown option(s) for {self.family}: {', '.join(sorted(options))}")
        super().__init__(device=device, dtype=dtype)
        self.ref = ref
        # a folder is named by its folder name; short names and "hf:" ids as typed
        self.name = Path(ref.model).name if ref.model == ref.location else ref.model
        self.pooling = self._pick_pooling(pooling)
        self.backbone = self.load_backbone(ref).eval()
        self.processor_config = load_processor_config(ref, self.default_processor)
        self.preprocess = Preprocess.from_hf(self.processor_config)
        in_dim = self.feature_dim()
        self.projection = self._load_projection(projection_dim, in_dim)
        self.dim = self.projection.out_dim if self.projection is not None else in_dim
        self.pin_fingerprint()  # the weights as stored, before the cast to the run's dtype
        for module in self.modules().values():
            module.to(self.device, self.dtype)

    # ------------------------------------------------------------------ family hooks
    def load_backbone(self, ref: ModelRef) -> nn.Module:
        """Load the ``transformers`` model (use :meth:`load_pretrained`)."""
        raise NotImplementedError

    def feature_dim(self) -> int:
        """Size of :meth:`features` output."""
        raise NotImplementedError

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled image features ``(B, feature_dim)``, before the projection head."""
        raise NotImplementedError

    def layer_groups(self) -> list[nn.Module]:
        """The image path's trainable modules, grouped from input to output.

        ``groups[0]`` is the stem / patch embeddings, then one group per stage or block, and
        last the head (final norm, the model's own projection, the projection head). Freeze the
        lower layers with ``for g in enc.layer_groups()[:k]: g.requires_grad_(False)``.
        """
        raise NotImplementedError

    def save_extra(self, folder: Path) -> None:
        """Write family-specific files (CLIP: the tokenizer)."""

    # ------------------------------------------------------------------ shared
    def load_pretrained(self, model_cls: Any, ref: ModelRef) -> Any:
        """``model_cls.from_pretrained`` through :mod:`imagevec.encoders.hub`, in float32 (the
        caller casts to the run's dtype after the fingerprint is taken).

        Weights the checkpoint lacks would be randomly initialised, giving random vectors: that
        is a :class:`~imagevec.ModelLoadError` (``ignore_missing`` lists unused modules).
        """
        model, info = from_pretrained(
            model_cls,
            ref.location,
            revision=ref.revision,
            output_loading_info=True,
            **dtype_kw(torch.float32),
        )
        missing = sorted(
            k for k in info.get("missing_keys", ()) if not k.startswith(self.ignore_missing)
        )
        if missing:
            shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
            raise ModelLoadError(
                f"{ref.model}: the checkpoint has no weights for {len(missing)} tensor(s) of the "
                f"{type(model).__name__} ({shown}); its vectors would be random. Is it a complete "
                f"{self.family} checkpoint?"
            )
        return model

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the projection head, if any."""
        return features if self.projection is None else self.projection(features)

    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled (and projected) image features, not normalised."""
        return self.project(self.features(pixel_values))

    def model_config(self) -> dict[str, Any]:
        """``{"model", "pooling", "projection_dim", "revision"}``: rebuilds this encoder."""
        return {
            "model": self.ref.model,
            "pooling": self.pooling,
            "projection_dim": self.projection.out_dim if self.projection is not None else None,
            "revision": self.ref.revision,
        }

    def modules(self) -> dict[str, nn.Module]:
        """``{"backbone": model}`` plus ``"projection"`` when there is a head."""
        out: dict[str, nn.Module] = {"backbone": self.backbone}
        if self.projection is not None:
            out["projection"] = self.projection
        return out

    def save(self, directory: str | Path) -> Path:
        """Write the encoder to ``directory``; ``create_encoder(directory)`` loads it back.

        Example:
            >>> enc.save("runs/my-encoder")                          # doctest: +SKIP
            >>> imagevec.create_encoder("runs/my-encoder")           # doctest: +SKIP
        """
        from safetensors.torch import save_file

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(str(folder), safe_serialization=True)
        (folder / PROCESSOR_FILE).write_text(json.dumps(self.processor_config, indent=2))
        self.save_extra(folder)
        (folder / PROJECTION_FILE).unlink(missing_ok=True)
        if self.projection is not None:
            state = {
                k: v.detach().contiguous().cpu() for k, v in self.projection.state_dict().items()
            }
            save_file(state, str(folder / PROJECTION_FILE))
        meta = {
            "format": SAVE_FORMAT,
            "family": self.family,
            "pooling": self.pooling,
            "projection": self.projection.spec() if self.projection is not None else None,
            "base_model": self.ref.saved.get("base_model", self.ref.model),
        }
        (folder / SAVED_CONFIG).write_text(json.dumps(meta, indent=2))
        return folder

    # ------------------------------------------------------------------ helpers
    def _pick_pooling(self, pooling: str | None) -> str:
        if pooling is None:
            if self.ref.saved.get("pooling"):
                pooling = self.ref.saved["pooling"]
            elif self.ref.spec is not None:
                pooling = self.ref.spec.pooling
            else:
                pooling = self.poolings[0]
        return check_pooling(pooling, self.poolings, family=self.family)

    def _load_projection(self, projection_dim: int | None, in_dim: int) -> ProjectionHead | None:
        saved = self.ref.saved.get("projection")
        if saved:
            if projection_dim not in (None, saved["out_dim"]):
                raise ConfigError(
                    f"{self.ref.model} has a trained projection head of size {saved['out_dim']}; "
                    f"projection_dim={projection_dim} does not match it (leave it unset)"
                )
            head = ProjectionHead(saved["in_dim"], saved["out_dim"], saved["hidden_dim"])
            _load_state(head, Path(self.ref.location) / PROJECTION_FILE)
        elif projection_dim is not None:
            head = seeded_projection(in_dim, projection_dim)
        else:
            return None
        return head.eval()


def _load_state(head: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path.parent} declares a projection head but has no {path.name}")
    try:
        head.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise ModelLoadError(f"projection head in {path} does not fit: {exc}") from exc


def load_processor_config(ref: ModelRef, default: dict[str, Any]) -> dict[str, Any]:
    """The model's image-processor config, as ``transformers`` resolves it.

    Returns ``AutoImageProcessor``'s ``to_dict()`` (cache first, no remote code), so int sizes
    and class defaults mean what they mean to ``transformers``; the raw JSON if no processor
    class can read it; the family's ``default`` (with a warning) if the model has none.
    """
    from transformers import AutoImageProcessor

    try:
        processor = from_pretrained(AutoImageProcessor, ref.location, revision=ref.revision)
        return json.loads(json.dumps(processor.to_dict()))
    except (OSError, ValueError, KeyError) as exc:  # ModelLoadError is an OSError
        try:
            raw = read_json(ref.location, PROCESSOR_FILE, revision=ref.revision)
        except ModelLoadError:
            raw = {}
        if raw:
            return raw
        reason = " ".join(str(exc).split())[:160]
        warnings.warn(
            f"{ref.model}: no usable {PROCESSOR_FILE} ({reason}); using the {ref.family} defaults",
            stacklevel=4,
        )
        return dict(default)


def dtype_kw(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """The ``from_pretrained`` dtype keyword (``dtype`` since transformers 4.56)."""
    import transformers

    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}


def pooled_output(output: Any) -> torch.Tensor:
    """A tensor from ``get_image_features``/``get_text_features`` (a ``ModelOutput`` in v5)."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


def group(*modules: nn.Module | None) -> nn.Module:
    """One layer group from several modules (``None`` entries are skipped)."""
    kept = [m for m in modules if m is not None]
    return kept[0] if len(kept) == 1 else nn.ModuleList(kept)
