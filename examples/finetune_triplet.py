"""Fine-tune the default encoder with triplet loss on labelled photos, then search with it.

Your data: one sub-folder per label ("the same product"), e.g.::

    products/
      mug-blue/   a.jpg b.jpg c.jpg
      mug-red/    a.jpg b.jpg
      ...

Run it on your folder, or with no argument on a labelled set built from the bundled sample
photos (each label = one cell of a photo; training crops and the new test photos come from
different zones of it; needs ``imagevec[samples]``)::

    python examples/finetune_triplet.py [products/] [--epochs 10] [--out DIR]

It writes the fine-tuned model, its checkpoints and a small demo index into ``--out``
(default ``./imagevec-finetune-example``, about 150 MB; printed at the start and the end).
The labelled sample set it builds lives in a temporary folder that is removed at the end.

The same from the command line::

    imagevec finetune auto products/ --dry-run          # which path fits this data?
    imagevec eval products/ --model default             # before
    imagevec finetune triplet products/ --out runs/products --epochs 5
    imagevec eval products/ --model runs/products       # after (on your own held-out labels!)
    imagevec index ~/Photos --model runs/products       # use it like any model name
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import imagevec
from imagevec.evaluation import evaluate_folder, format_metrics
from imagevec.training import finetune_triplet, recommend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="folder of label sub-folders")
    parser.add_argument(
        "--out",
        default="imagevec-finetune-example",
        help="where the model, checkpoints and demo index go (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="[default: the recipe's]")
    args = parser.parse_args()
    out = Path(args.out).expanduser().resolve()
    print(f"writing the fine-tuned model, checkpoints and a demo index to {out}")
    work = Path(tempfile.mkdtemp(prefix="imagevec-labelled-"))
    try:
        run(args.data, out, args.epochs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the temporary labelled set
    print(f"done: the model is {out} (delete the folder when you no longer need it)")


def run(data_arg: str | None, out: Path, epochs: int | None, work: Path) -> None:
    """Train into ``out``; ``work`` is a scratch folder for the sample labelled set."""
    test_dir = None
    if data_arg is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
        from labelled_sets import SETS, build_set  # examples/benchmarks/labelled_sets.py

        folders = build_set(work, SETS["colour-5"])
        data, test_dir = folders.train, folders.known  # new photos of the trained labels
        print(f"built a labelled set from the sample photos in {work}")
    else:
        data = Path(data_arg).expanduser()  # new photos of each label are held out to validate

    advice = recommend(data)
    print(f"recommended path: {advice.path} — {advice.reason}")

    # The evidence recipe; the epoch is chosen on held-out new photos of the labels, and the
    # base model is exported if no epoch beats it.
    result = finetune_triplet(data, model="default", out=out, epochs=epochs)
    print(f"validation before: {format_metrics(result.before)}")
    print(f"validation best  : {format_metrics(result.best)} (epoch {result.best_epoch})")

    # The output folder is a model name like any other.
    encoder = imagevec.create_encoder(str(out))
    if test_dir is not None:
        print(f"test, base model : {format_metrics(evaluate_folder(test_dir, 'default'))}")
        print(f"test, fine-tuned : {format_metrics(evaluate_folder(test_dir, encoder))}")
    with imagevec.ImageIndex(out / "demo-db", encoder=encoder) as index:
        index.add([test_dir or data])
        query = next(Path(test_dir or data).rglob("*.jpg"))
        for hit in index.search(image=query, k=3):
            print(f"{hit.score:.3f}  {hit.uri}")


if __name__ == "__main__":
    main()
