#!/usr/bin/env python3
"""Writes the cross-encoder golden files: what sentence-transformers' CrossEncoder(dir) answers.

Each case is a model directory around a small random DistilBertForSequenceClassification with a
fixed seed, saved as a cross-encoder is found on the hub or as CrossEncoder.save writes it, and
expected.json: per call of CrossEncoder.predict (pairs; prompt_name or prompt; apply_softmax) the
scores and each pair's input_ids, and per call of CrossEncoder.rank (query, documents, top_k,
return_documents) its list of {corpus_id, score, text}; and per run the logits of the same pairs through the
model cast to bfloat16 ("bf16_logits", for the softmax runs none): how far HF's own bf16 is from its
float32, the yardstick of the CUDA backend's bf16.

The cases cover the ways a cross-encoder's activation is stored: sentence-transformers 6's
config_sentence_transformers.json ("activation_fn"), 4 and 5's config.json "sentence_transformers"
entry (the hub's ms-marco rerankers: Identity, raw logits), the older
"sbert_ce_default_activation_function", and none (Sigmoid for one label, Identity for more); a
three-label NLI-style model (predict with and without apply_softmax; rank refuses it); prompts;
max_seq_length in sentence_bert_config.json; and documents longer than the limit (longest_first
truncation of the pair).

Needs torch, transformers and sentence-transformers (CI does not run this):
    python3 tests/golden/make_cross_encoder_golden.py [--out tests/src/test/resources/golden-ce]
"""
import json
import os
import shutil
import sys

import numpy as np
import sentence_transformers
import torch
import transformers
from sentence_transformers import CrossEncoder
from transformers import DistilBertForSequenceClassification

sys.path.insert(0, os.path.dirname(__file__))
import st_golden_main  # noqa: E402
from make_golden import config, save_pipeline_tokenizer  # noqa: E402

QUERY = "was the movie good?"
DOCUMENTS = ["this movie was great!", "I hated the ending, but the acting is fine.", "awfully boring", "",
             "The music was really, really good and the story was fun. " * 8, "Boring movie", "this movie was great!"]
PAIRS = [["the plot was boring", "but I loved the music"], ["great film", "awful book"],
         ["a", "The music was really, really good and the story was fun. " * 8],
         ["The music was really, really good and the story was fun. " * 8, "b"]]

CASES = [
    # name, config overrides, how the directory is saved, extras
    ("ce_st6_sigmoid", dict(num_labels=1), "st6", dict(prompts={"query": "query: "})),
    ("ce_hub_identity", dict(num_labels=1), "config_entry", dict(activation="torch.nn.modules.linear.Identity")),
    ("ce_legacy_tanh", dict(num_labels=1, activation="gelu_new"), "legacy",
     dict(activation="torch.nn.modules.activation.Tanh")),
    ("ce_plain_default", dict(num_labels=1, sinusoidal_pos_embds=True), "plain", {}),
    ("ce_st6_max_seq_length", dict(num_labels=1), "st6", dict(max_length=24)),
    ("ce_three_labels", dict(num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                             label2id={"contradiction": 0, "neutral": 1, "entailment": 2}), "st6", {}),
]


def build(name, overrides, layout, extras, seed, out_dir):
    torch.manual_seed(seed)
    case_dir = os.path.join(out_dir, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    hf_dir = os.path.join(case_dir, "hf") if layout == "st6" else case_dir
    save_pipeline_tokenizer(hf_dir)
    model = DistilBertForSequenceClassification(config(**overrides)).float().eval()
    with torch.no_grad():  # a classifier whose logits spread over a few units, so that ranks are clear
        model.classifier.weight.mul_(4)
    model.save_pretrained(hf_dir)
    if layout == "st6":
        ce = CrossEncoder(hf_dir, device="cpu", max_length=extras.get("max_length"))
        if extras.get("prompts"):
            ce.prompts = extras["prompts"]
        ce.save(case_dir)
        shutil.rmtree(hf_dir)
    else:
        cfg_file = os.path.join(case_dir, "config.json")
        with open(cfg_file) as f:
            cfg = json.load(f)
        if layout == "config_entry":
            cfg["sentence_transformers"] = {"activation_fn": extras["activation"], "version": "4.1.0"}
        elif layout == "legacy":
            cfg["sbert_ce_default_activation_function"] = extras["activation"]
        with open(cfg_file, "w") as f:
            json.dump(cfg, f, indent=2)
    return CrossEncoder(case_dir, device="cpu")


def input_ids(ce, pairs, prompt=None):
    """The input_ids of each pair as predict tokenizes it: the prompt prepended to the first text."""
    out = []
    for a, b in pairs:
        features = ce.preprocess([[(prompt or "") + a, b]])
        out.append(features["input_ids"][0][features["attention_mask"][0].bool()].tolist())
    return out


def bf16_logits(ce16, pairs, **kwargs):
    """The logits of HF's own bf16 forward (the model cast to bfloat16), the yardstick of our bf16."""
    kwargs = {k: v for k, v in kwargs.items() if k in ("prompt", "prompt_name")}
    return np.asarray(ce16.predict(pairs, batch_size=3, convert_to_numpy=True, activation_fn=torch.nn.Identity(), **kwargs),
                      dtype=np.float32).tolist()


def predict_run(ce, ce16, pairs, **kwargs):
    scores = ce.predict(pairs, batch_size=3, convert_to_numpy=True, **kwargs)
    prompt = kwargs.get("prompt")
    if prompt is None and kwargs.get("prompt_name"):
        prompt = ce.prompts[kwargs["prompt_name"]]
    run = {"pairs": pairs, "scores": np.asarray(scores, dtype=np.float32).tolist(), "input_ids": input_ids(ce, pairs, prompt)}
    if not kwargs.get("apply_softmax"):
        run["bf16_logits"] = bf16_logits(ce16, pairs, **kwargs)
    run.update(kwargs)
    return run


def rank_run(ce, ce16, query, documents, **kwargs):
    ranking = ce.rank(query, documents, batch_size=3, **kwargs)
    run = {"query": query, "documents": documents, "ranking": ranking,
           "bf16_logits": bf16_logits(ce16, [[query, documents[h["corpus_id"]]] for h in ranking], **kwargs)}
    run.update(kwargs)
    return run


def run_case(case, seed, out_dir):
    name, overrides, layout, extras = case
    ce = build(name, overrides, layout, extras, seed, out_dir)
    ce16 = CrossEncoder(os.path.join(out_dir, name), device="cpu")
    ce16.model.to(torch.bfloat16)
    doc_pairs = [[QUERY, d] for d in DOCUMENTS]
    expected = {"case": name, "num_labels": ce.num_labels, "max_length": ce.max_seq_length,
                "activation_fn": type(ce.activation_fn).__module__ + "." + type(ce.activation_fn).__name__,
                "predict": [predict_run(ce, ce16, doc_pairs), predict_run(ce, ce16, PAIRS)]}
    if ce.num_labels == 1:
        expected["rank"] = [rank_run(ce, ce16, QUERY, DOCUMENTS),
                           rank_run(ce, ce16, QUERY, DOCUMENTS, top_k=3, return_documents=True)]
    else:
        expected["predict"].append(predict_run(ce, ce16, PAIRS, apply_softmax=True))
    if ce.prompts:
        expected["predict"].append(predict_run(ce, ce16, doc_pairs, prompt_name="query"))
        expected["predict"].append(predict_run(ce, ce16, PAIRS, prompt="instruct: "))
        expected["rank"].append(rank_run(ce, ce16, QUERY, DOCUMENTS, prompt_name="query", top_k=4))
    with open(os.path.join(out_dir, name, "expected.json"), "w") as f:
        json.dump(expected, f)
    return name


if __name__ == "__main__":
    st_golden_main.main("golden-ce", CASES, run_case, 5000)
