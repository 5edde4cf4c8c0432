#!/usr/bin/env python3
"""Writes the sentence-transformers golden files: what SentenceTransformer(dir).encode answers.

Each case is a sentence-transformers model directory (modules.json, the Transformer module's
DistilBERT model and tokenizer with sentence_bert_config.json, 1_Pooling/config.json, Dense modules
with their weights, Normalize, config_sentence_transformers.json) around a small random DistilBERT
with a fixed seed, and expected.json: per run of encode (texts, prompt_name or prompt), the
embeddings as float32 values and each text's input_ids as the model's tokenizer gave them; and
model.similarity of the first run's embeddings with themselves (the directory's similarity
function), and each of sentence-transformers' four functions of them; quantize_embeddings of them
(int8 and uint8 with their own ranges and with those of the first three, binary, ubinary);
util.semantic_search of the
first three in all six under each function; where the model has prompts, encode_query and
encode_document of two texts; and "search": semantic_search of encode_query(DOC_TEXTS) in
encode_document(TEXTS), top 3, under model.similarity (what `distilbert search` answers).

The cases cover every pooling mode (cls, max, mean, mean_sqrt_len_tokens, weightedmean,
lasttoken), several at once, Dense modules (Tanh, Identity without bias, a residual projection),
Normalize, truncate_dim (Matryoshka: the model's, and the call's, with and without
normalize_embeddings), prompts with include_prompt false, do_lower_case over a cased tokenizer, a Transformer
module in a 0_Transformer subfolder (the older layout), and a Pooling config in the older
pooling_mode_* form that most models on the hub still carry.

Needs torch, transformers and sentence-transformers (CI does not run this):
    python3 tests/golden/make_sentence_transformers_golden.py [--out tests/src/test/resources/golden-st]
"""
import json
import os
import shutil
import sys

import numpy as np
import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Dense, Normalize, Pooling, Transformer
from sentence_transformers.util import quantize_embeddings
from transformers import DistilBertModel

sys.path.insert(0, os.path.dirname(__file__))
import st_golden_main  # noqa: E402
from make_golden import PIPELINE_VOCAB, config, save_pipeline_tokenizer  # noqa: E402

TEXTS = ["this movie was great!", "I hated the ending, but the acting is fine.", "awfully boring",
         "", "The music was really, really good and the story was fun. " * 6, "Boring MOVIE"]
DOC_TEXTS = ["the plot was boring", "I loved the music"]

CASES = [
    # name, config overrides, transformer subfolder, pooling modes, dense layers, normalize, extras
    ("st_mean_normalize", {}, "", ("mean",), [], True, {}),
    ("st_cls_dense_tanh", dict(activation="gelu_new"), "", ("cls",), [dict(out=24)], False,
     dict(similarity_fn_name="dot")),
    ("st_every_mode", dict(sinusoidal_pos_embds=True),
     "", ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"),
     [dict(out=40, activation=torch.nn.Identity(), bias=False), dict(out=40, activation=torch.nn.Tanh(), residual=True),
      dict(out=16, activation=torch.nn.ReLU(), residual=True)], True, {}),
    ("st_weightedmean_max", {}, "", ("weightedmean", "max"), [], False, {}),
    ("st_lasttoken", dict(activation="relu"), "", ("lasttoken",), [], False, {}),
    ("st_prompts", {}, "", ("mean",), [], True,
     dict(prompts={"query": "query: ", "document": "a passage about"}, default_prompt_name="query",
          include_prompt=False)),
    ("st_prompts_cls_lasttoken", {}, "", ("cls", "lasttoken", "weightedmean"), [], False,
     dict(prompts={"query": "query: "}, include_prompt=False)),
    ("st_legacy_lowercase", {}, "0_Transformer", ("mean",), [dict(out=8, activation=torch.nn.Sigmoid())], False,
     dict(cased=True, do_lower_case=True, max_seq_length=12, legacy_pooling=True)),
    # Matryoshka: truncate_dim in config_sentence_transformers.json cuts the vectors after the Normalize module
    ("st_truncate_dim", {}, "", ("mean",), [dict(out=24)], True, dict(truncate_dim=10)),
]


def build(name, overrides, subfolder, modes, denses, normalize, extras, seed, out_dir):
    """The model directory as SentenceTransformer.save writes it, loaded back from disk."""
    torch.manual_seed(seed)
    case_dir = os.path.join(out_dir, name)
    shutil.rmtree(case_dir, ignore_errors=True)
    hf_dir = os.path.join(case_dir, "hf")
    tok = save_pipeline_tokenizer(hf_dir)
    if extras.get("cased"):
        # the same vocabulary, cased: only do_lower_case makes "Boring MOVIE" known words
        with open(os.path.join(hf_dir, "tokenizer_config.json"), "w") as f:
            json.dump({"do_lower_case": False, "model_max_length": 40, "tokenizer_class": "BertTokenizer"}, f)
        os.remove(os.path.join(hf_dir, "tokenizer.json"))
        tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
        tok.save_pretrained(hf_dir)
    DistilBertModel(config(**overrides)).float().eval().save_pretrained(hf_dir)
    transformer = Transformer(hf_dir, max_seq_length=extras.get("max_seq_length"),
                              do_lower_case=extras.get("do_lower_case", False))
    dim = transformer.get_embedding_dimension()
    modules = [transformer, Pooling(dim, pooling_mode=modes if len(modes) > 1 else modes[0],
                                    include_prompt=extras.get("include_prompt", True))]
    width = dim * len(modes)
    for d in denses:
        dense = Dense(width, d["out"], bias=d.get("bias", True), activation_function=d.get("activation", torch.nn.Tanh()),
                      use_residual=d.get("residual", False))
        with torch.no_grad():  # weights large enough that the activations are not all near zero
            dense.linear.weight.normal_(0, 0.3)
            if dense.linear.bias is not None:
                dense.linear.bias.normal_(0, 0.3)
        modules.append(dense)
        width = d["out"]
    if normalize:
        modules.append(Normalize())
    model = SentenceTransformer(modules=modules, device="cpu", prompts=extras.get("prompts"),
                                default_prompt_name=extras.get("default_prompt_name"),
                                similarity_fn_name=extras.get("similarity_fn_name"), truncate_dim=extras.get("truncate_dim"))
    model.save(case_dir)
    if extras.get("legacy_pooling"):
        legacy_transformer_config(case_dir, hf_dir, extras)
        legacy_pooling_config(case_dir, modes, dim)
    shutil.rmtree(hf_dir)
    if subfolder:
        relocate_transformer(case_dir, subfolder)
    return SentenceTransformer(case_dir, device="cpu")


def relocate_transformer(case_dir, subfolder):
    """The older layout: the Transformer module's files in a subfolder, modules.json pointing there."""
    sub = os.path.join(case_dir, subfolder)
    os.makedirs(sub)
    for f in os.listdir(case_dir):
        p = os.path.join(case_dir, f)
        if os.path.isfile(p) and f not in ("modules.json", "config_sentence_transformers.json", "README.md"):
            shutil.move(p, os.path.join(sub, f))
    with open(os.path.join(case_dir, "modules.json")) as f:
        modules = json.load(f)
    modules[0]["path"] = subfolder
    with open(os.path.join(case_dir, "modules.json"), "w") as f:
        json.dump(modules, f, indent=2)


def legacy_transformer_config(case_dir, hf_dir, extras):
    """sentence_bert_config.json as models on the hub carry it ({max_seq_length, do_lower_case}), over the
    tokenizer files as the model had them: sentence-transformers 6 instead writes the lowercasing into
    tokenizer.json's normalizer, which transformers 5 ignores when it loads a BertTokenizer again."""
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if os.path.exists(os.path.join(hf_dir, f)):
            shutil.copy(os.path.join(hf_dir, f), os.path.join(case_dir, f))
    with open(os.path.join(case_dir, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": extras["max_seq_length"], "do_lower_case": extras["do_lower_case"]}, f)


def legacy_pooling_config(case_dir, modes, dim):
    """1_Pooling/config.json in the pooling_mode_* form (sentence-transformers before 6)."""
    keys = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
            "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
            "weightedmean": "pooling_mode_weightedmean_tokens", "lasttoken": "pooling_mode_lasttoken"}
    cfg = {"word_embedding_dimension": dim}
    cfg.update({k: m in modes for m, k in keys.items()})
    cfg["include_prompt"] = True
    with open(os.path.join(case_dir, "1_Pooling", "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def encode_run(model, texts, **kwargs):
    """One call of encode and what it tokenized (the prompt prepended as encode prepends it)."""
    emb = model.encode(texts, convert_to_numpy=True, batch_size=4, **kwargs).astype(np.float32)
    prompt = kwargs.get("prompt")
    if prompt is None:
        name = kwargs.get("prompt_name", model.default_prompt_name)
        prompt = model.prompts.get(name) if name else None
    tokenized = [model.tokenize([(prompt or "") + t])["input_ids"][0].tolist() for t in texts]
    run = {"texts": texts, "input_ids": tokenized, "embeddings": emb.tolist()}
    run.update({k: v for k, v in kwargs.items()})
    return run


def run_case(case, seed, out_dir):
    name, overrides, subfolder, modes, denses, normalize, extras = case
    model = build(name, overrides, subfolder, modes, denses, normalize, extras, seed, out_dir)
    runs = [encode_run(model, TEXTS)]
    if model.truncate_dim:
        # normalize_embeddings after the truncation; a truncate_dim of the call over the model's; one past the width
        runs.append(encode_run(model, TEXTS, normalize_embeddings=True))
        runs.append(encode_run(model, DOC_TEXTS, truncate_dim=4, normalize_embeddings=True))
        runs.append(encode_run(model, DOC_TEXTS, truncate_dim=100))
    if extras.get("prompts"):
        for prompt_name in extras["prompts"]:
            runs.append(encode_run(model, DOC_TEXTS, prompt_name=prompt_name))
        runs.append(encode_run(model, DOC_TEXTS, prompt="instruct: "))
    first = np.asarray(runs[0]["embeddings"], dtype=np.float32)
    expected = {"case": name, "dimension": model.get_sentence_embedding_dimension(), "runs": runs,
                "similarity_fn_name": model.similarity_fn_name,
                # model.similarity of the first run's embeddings with themselves, and under each function
                "similarity": model.similarity(first, first).tolist(),
                "similarities": {fn: getattr(sentence_transformers.util, f)(first, first).tolist()
                                 for fn, f in [("cosine", "cos_sim"), ("dot", "dot_score"), ("euclidean", "euclidean_sim"),
                                               ("manhattan", "manhattan_sim")]},
                # util.semantic_search of the first three embeddings in all six, top 4, under each function
                "semantic_search": {fn: sentence_transformers.util.semantic_search(
                    torch.from_numpy(first[:3]), torch.from_numpy(first), top_k=4,
                    score_function=getattr(sentence_transformers.util, f))
                    for fn, f in [("cosine", "cos_sim"), ("dot", "dot_score"), ("euclidean", "euclidean_sim"),
                                  ("manhattan", "manhattan_sim")]}}
    # quantize_embeddings of the first run's embeddings: int8 and uint8 with the ranges of those embeddings
    # (its default) and of the first three (calibration_embeddings); binary and ubinary
    expected["quantize"] = {p: quantize_embeddings(first, precision=p).tolist() for p in ("int8", "uint8", "binary", "ubinary")}
    expected["quantize"].update({p + "_calibration": quantize_embeddings(first, precision=p, calibration_embeddings=first[:3])
                                 .tolist() for p in ("int8", "uint8")})
    # what `distilbert search` answers: util.semantic_search of encode_query(DOC_TEXTS) in encode_document(TEXTS),
    # top 3, under the model's similarity function
    expected["search"] = {"queries": DOC_TEXTS, "corpus": TEXTS, "top_k": 3, "hits": sentence_transformers.util.semantic_search(
        torch.from_numpy(model.encode_query(DOC_TEXTS).astype(np.float32)),
        torch.from_numpy(model.encode_document(TEXTS).astype(np.float32)), top_k=3, score_function=model.similarity)}
    if model.prompts:
        # encode_query and encode_document: their default prompts ("query"; "document", "passage" or "corpus")
        expected["encode_query"] = model.encode_query(DOC_TEXTS).astype(np.float32).tolist()
        expected["encode_document"] = model.encode_document(DOC_TEXTS).astype(np.float32).tolist()
    with open(os.path.join(out_dir, name, "expected.json"), "w") as f:
        json.dump(expected, f)
    return name


if __name__ == "__main__":
    st_golden_main.main("golden-st", CASES, run_case, 4000)
