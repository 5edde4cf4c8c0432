"""The command line the sentence-transformers golden scripts share (sentence-transformers, cross-encoder,
sparse-encoder): run every case with its seed into --out, then write index.json with the versions."""
import argparse
import json
import os

import sentence_transformers
import torch
import transformers


def main(folder, cases, run_case, first_seed):
    """Runs run_case(case, first_seed + i, out) for each case; --out defaults to tests/src/test/resources/FOLDER."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "src", "test", "resources", folder))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    names = [run_case(case, first_seed + i, args.out) for i, case in enumerate(cases)]
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"sentence_transformers": sentence_transformers.__version__,
                   "transformers": transformers.__version__, "torch": torch.__version__, "cases": names}, f, indent=1)
    print(f"wrote {len(names)} cases to {args.out}")
