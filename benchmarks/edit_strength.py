"""Bar (issue 25): does the calibrated strength 1 change the probe's reading on most held-out models?

The shipped zoo's directions carry a strength unit measured on training models
(tasks/calibration.py: strength 1 is the edit that flips half of the training
models tried). This checks it where a user would use it: held-out identities,
never in the zoo, fine-tuned with the zoo's recipe (the same store the editing
benchmark builds under runs/), each edited towards the value the probe does not
read in it at a few strengths. Baseline in the same run: the raw unit the
directions had before calibration (strength 1 = the farthest training model).

    python -m benchmarks.edit_strength --heldout 16 --strengths 0.5,1,2
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchmarks.harness import (
    EDITED,
    HELDOUT_STORE,
    heldout_store,
    markdown_table,
    parse,
    parser,
    set_threads,
    write_json,
)
from w2w_core.evaluate import Reader, flip_rates


def arguments():
    p = parser(__doc__)
    p.add_argument("--heldout", type=int, default=16, help="held-out identities edited")
    p.add_argument("--strengths", default="0.5,1,2", help="calibrated strengths tried")
    p.add_argument("--attributes", default=",".join(EDITED))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.directions_store import load_directions
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.config import ZOO_DIR, CalibrationConfig
    from tasks.models import base_model_for, model_images
    from w2w_core.directions import edit
    from w2w_core.lora.layout import LoraLayout

    set_threads(args.threads)
    zoo = str(ZOO_DIR)
    space, directions, reader = load_space(zoo), load_directions(zoo), Reader.load()
    if directions.calibration is None:
        raise SystemExit("the zoo's directions are not calibrated: run `w2w zoo build` first")
    raw = replace(directions, unit=directions.unit / np.array(
        [directions.calibration["attributes"].get(n, {}).get("raw_strength", 1.0) for n in directions.names]))
    heldout = heldout_store(zoo, HELDOUT_STORE, args.heldout)
    store = WeightStore.open(heldout, read_only=True)
    layout = LoraLayout.from_dict(store.layout)
    base, pictures = base_model_for(layout), CalibrationConfig().pictures
    thetas = store.read_rows(list(range(args.heldout))).astype(np.float32)

    def readings(vectors: np.ndarray) -> np.ndarray:
        return reader.read(model_images(base, vectors, layout, pictures))[0]

    had = readings(thetas)
    strengths = [float(s) for s in args.strengths.split(",")]
    results = {"heldout": args.heldout, "strengths": strengths, "attributes": {}}
    for name in args.attributes.split(","):
        a = list(reader.probe.config.attributes).index(name)
        toward = np.where(had[:, a], -1.0, 1.0)
        row = {}
        for label, chosen in (("calibrated", directions), ("raw", raw)):
            edited = np.stack([edit(t, space, chosen, {name: sign * s})
                               for s in strengths for t, sign in zip(thetas, toward)])
            after = readings(edited)[:, a].reshape(len(strengths), len(thetas))
            row[label] = [float(r) for r in flip_rates(after, had[:, a])]
        row["raw_strength_of_1"] = directions.calibration["attributes"][name]["raw_strength"]
        results["attributes"][name] = row
    print_table(results)
    write_json(args.json, results)


def print_table(results: dict) -> None:
    strengths, n = results["strengths"], results["heldout"]
    print(f"flip rate on {n} held-out models, edited towards what the probe does not read in them")
    one = strengths.index(1.0) if 1.0 in strengths else 0
    rows = []
    for name, row in results["attributes"].items():
        ratio = row["calibrated"][one] / row["raw"][one] if row["raw"][one] else float("inf")
        rows.append([name, f"{row['raw_strength_of_1']:.2f}",
                     *(f"{r:.2f} ({round(r * n)}/{n})" for r in row["calibrated"]),
                     *(f"{r:.2f}" for r in row["raw"]), f"{ratio:.1f}x"])
    print(markdown_table(["attribute", "raw strength of 1", *(f"calibrated {s:g}" for s in strengths),
                          *(f"raw {s:g} (baseline)" for s in strengths), "calibrated 1 / raw 1"], rows))


if __name__ == "__main__":
    main()
