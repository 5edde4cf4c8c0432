#!/usr/bin/env python3
"""Writes the sparse-encoder golden files: what sentence-transformers' SparseEncoder(dir).encode answers.

Each case is a SPLADE directory (a DistilBertForMaskedLM, the MLMTransformer module, and a
SpladePooling module) around a small random model with a fixed seed, saved by SparseEncoder.save,
and expected.json: per call of encode (texts; a prompt_name or prompt; max_active_dims) the
embeddings as dense float32 vectors (the vocabulary is small) and each text's input_ids; and
decode's top 3 tokens of the first run's first embedding.

The cases cover max and sum pooling, the relu and log1p_relu activations, prompts, a
max_seq_length that truncates, and the module names of sentence-transformers 5
(sentence_transformers.sparse_encoder.models.MLMTransformer, word_embedding_dimension).

Needs torch, transformers and sentence-transformers (CI does not run this):
    python3 tests/golden/make_sparse_encoder_golden.py [--out tests/src/test/resources/golden-sparse]
"""
import json
import os
import shutil
import sys

import numpy as np
import sentence_transformers
import torch
import transformers
from sentence_transformers import SparseEncoder
from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling
from transformers import DistilBertForMaskedLM

sys.path.insert(0, os.path.dirname(__file__))
import st_golden_main  # noqa: E402
from make_golden import config, save_pipeline_tokenizer  # noqa: E402

TEXTS = ["this movie was great!", "I hated the ending, but the acting is fine.", "awfully boring", "",
         "The music was really, really good and the story was fun. " * 6, "Boring MOVIE"]
DOC_TEXTS = ["the plot was boring", "I loved the music"]

CASES = [
    # name, config overrides, pooling strategy, activation, extras
    ("splade_max_relu", {}, "max", "relu", {}),
    ("splade_sum_relu", dict(activation="gelu_new"), "sum", "relu", {}),
    ("splade_max_log1p_relu_prompts", {}, "max", "log1p_relu",
     dict(prompts={"query": "query: ", "document": "passage: "}, default_prompt_name="query", max_seq_length=12)),
    ("splade_legacy_names", dict(sinusoidal_pos_embds=True), "max", "relu", dict(legacy=True)),
]


def build(name, overrides, strategy, activation, extras, seed, out_dir):
    torch.manual_seed(seed)
    case_dir = os.path.join(out_dir, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    hf_dir = os.path.join(case_dir, "hf")
    save_pipeline_tokenizer(hf_dir)
    DistilBertForMaskedLM(config(**overrides)).float().eval().save_pretrained(hf_dir)
    mlm = MLMTransformer(hf_dir, max_seq_length=extras.get("max_seq_length"))
    model = SparseEncoder(modules=[mlm, SpladePooling(strategy, activation_function=activation)], device="cpu",
                          prompts=extras.get("prompts"), default_prompt_name=extras.get("default_prompt_name"))
    model.save(case_dir)
    shutil.rmtree(hf_dir)
    if extras.get("legacy"):
        # sentence-transformers 5's names for the same modules, as hub models saved by it have them
        with open(os.path.join(case_dir, "modules.json")) as f:
            modules = json.load(f)
        modules[0]["type"] = "sentence_transformers.sparse_encoder.models.MLMTransformer"
        modules[1]["type"] = "sentence_transformers.sparse_encoder.models.SpladePooling"
        with open(os.path.join(case_dir, "modules.json"), "w") as f:
            json.dump(modules, f, indent=2)
        pooling = os.path.join(case_dir, "1_SpladePooling", "config.json")
        with open(pooling, "w") as f:
            json.dump({"pooling_strategy": strategy, "activation_function": activation,
                       "word_embedding_dimension": config(**overrides).vocab_size}, f, indent=2)
    return SparseEncoder(case_dir, device="cpu")


def encode_run(model, texts, **kwargs):
    emb = model.encode(texts, batch_size=4, convert_to_tensor=True, **kwargs).to_dense().numpy().astype(np.float32)
    prompt = kwargs.get("prompt")
    if prompt is None:
        name = kwargs.get("prompt_name", model.default_prompt_name)
        prompt = model.prompts.get(name) if name else None
    tokenized = [model.tokenize([(prompt or "") + t])["input_ids"][0].tolist() for t in texts]
    run = {"texts": texts, "input_ids": tokenized, "embeddings": emb.tolist()}
    run.update(kwargs)
    return run


def run_case(case, seed, out_dir):
    name, overrides, strategy, activation, extras = case
    model = build(name, overrides, strategy, activation, extras, seed, out_dir)
    runs = [encode_run(model, TEXTS), encode_run(model, TEXTS, max_active_dims=4)]
    if model.prompts:
        runs.append(encode_run(model, DOC_TEXTS, prompt_name="document"))
        runs.append(encode_run(model, DOC_TEXTS, prompt="instruct: "))
    first = model.encode(TEXTS[:1], convert_to_tensor=True)
    expected = {"case": name, "dimension": model.get_sentence_embedding_dimension(), "runs": runs,
                "similarity_fn_name": model.similarity_fn_name,
                "decode": [[t, float(w)] for t, w in model.decode(first[0], top_k=3)]}
    with open(os.path.join(out_dir, name, "expected.json"), "w") as f:
        json.dump(expected, f)
    return name


if __name__ == "__main__":
    st_golden_main.main("golden-sparse", CASES, run_case, 6000)
