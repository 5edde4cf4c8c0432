#!/usr/bin/env python3
"""Writes the HuggingFace golden files the Java tests compare against.

Small random DistilBERT models (learned and sinusoidal positions, every activation, several head
counts, every head) with fixed seeds; for each, the model directory as HF saves it and one
`io.safetensors` holding the inputs, every output (hidden states, attentions, logits, losses) and
the gradient of the loss with respect to every parameter. Dropout is 0 so that the numbers are
deterministic; the model runs in float32 on the CPU (the reference, not the GPU peer).

Needs torch and transformers (the GPU machine has them; CI does not run this):
    python3 tests/golden/make_golden.py [--out tests/src/test/resources/golden]

io.safetensors keys (float32 unless noted):
    input.input_ids (I64) [B, L]       input.attention_mask (I64) [B, L]
    input.inputs_embeds [B, L, C]       input.head_mask [NH] or [n_layers, NH]
    input.labels (I64 or F32)           input.start_positions / input.end_positions (I64) [B]
    output.last_hidden_state / output.logits / output.start_logits / output.end_logits
    output.hidden_states.{i}            output.attentions.{i}      output.loss []
    grad.{parameter name}               gradient of the loss (base model: sum(out * probe))
    input.probe [B, L, C]               the fixed random tensor the base model's loss uses
__metadata__: {"case": ..., "head": ..., "transformers": version, "torch": version, "seed": ...}

Pipeline cases (index.json "pipelines", each with its "task"): for "text-classification", a
DistilBertForSequenceClassification directory with its
tokenizer (vocab.txt, tokenizer.json) and expected.json: HF's text-classification pipeline on
fixed texts (top 1, top_k=None) and pairs (top_k=None), and the tokenizer's input_ids. For
"token-classification", a DistilBertForTokenClassification (id2label O, B-PER, I-PER, B-LOC, I-LOC)
with the same tokenizer and expected.json: "runs", each HF's token-classification pipeline on
texts with one aggregation_strategy (none, simple, first, average, max), ignore_labels (default or
[]) and stride (none, or windows over a text longer than model_max_length), its entities with the
scores as floats; a stride run says whether HF's windows covered the whole text ("covers_text":
tokenizers 0.23.1+ stops tokenizing at max_length, so that they may not). For "fill-mask", a
DistilBertForMaskedLM with the same tokenizer and expected.json: HF's fill-mask pipeline on texts
with one and several masks (top_k 5 and 2; targets with top_k 3 and beyond their number), the
target ids and the tokenizer's input_ids. For
"question-answering", a DistilBertForQuestionAnswering directory with the same tokenizer and
expected.json: per call of the pipeline (its arguments), each input's windows (input_ids) and
answers. transformers 5.3 removed that pipeline; there, qa_reference (its steps as transformers 5.2
takes them, on HF's tokenizer and model) answers instead, and expected.json's "reference" says so. For
"multiple-choice" (no HF pipeline), a DistilBertForMultipleChoice directory with the same tokenizer and
expected.json: per question, its prompt, choices, each choice's row (input_ids without padding), the
logits and their softmax, the model run as HF's documentation runs it (run_multiple_choice_case). For
"zero-shot-classification", NLI-style DistilBertForSequenceClassification directories (entailment last, first,
or not named) with the same tokenizer and expected.json: HF's entailment_id and, per run of the pipeline
(texts, candidate labels, template, multi_label), its answers and each (text, hypothesis) pair's input_ids
and logits (run_zero_shot_case).
"""
import argparse
import json
import os

import numpy as np
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from transformers import (DistilBertConfig, DistilBertForMaskedLM, DistilBertForMultipleChoice,
                          DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                          DistilBertForTokenClassification, DistilBertModel)

B, L, V, P = 3, 12, 99, 40
# Attention masks with ragged rows, a row with padding in the middle and a full row.
MASK = torch.tensor([
    [1] * 12,
    [1] * 7 + [0] * 5,
    [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0],
])


def config(**kw):
    base = dict(vocab_size=V, max_position_embeddings=P, n_layers=2, n_heads=4, dim=32, hidden_dim=48,
                dropout=0.0, attention_dropout=0.0, qa_dropout=0.0, seq_classif_dropout=0.0,
                activation="gelu", sinusoidal_pos_embds=False, initializer_range=0.2, pad_token_id=0,
                # Eager attention: SDPA returns no attention probabilities.
                attn_implementation="eager")
    base.update(kw)
    return DistilBertConfig(**base)


CASES = [
    # name, head class, config overrides, extra forward arguments
    ("base_gelu_learned", DistilBertModel, {}, {}),
    ("base_relu_sinusoidal", DistilBertModel, dict(activation="relu", sinusoidal_pos_embds=True), {}),
    ("base_silu_2heads", DistilBertModel, dict(activation="silu", n_heads=2), {}),
    ("base_gelu_new_8heads", DistilBertModel, dict(activation="gelu_new", n_heads=8, n_layers=3), {}),
    ("base_head_mask_per_layer", DistilBertModel, {}, dict(head_mask="layers")),
    ("base_head_mask_shared", DistilBertModel, {}, dict(head_mask="shared")),
    ("base_inputs_embeds", DistilBertModel, {}, dict(inputs_embeds=True)),
    ("masked_lm", DistilBertForMaskedLM, {}, {}),
    ("masked_lm_sinusoidal_gelu_new", DistilBertForMaskedLM, dict(activation="gelu_new", sinusoidal_pos_embds=True), {}),
    ("seq_single_label", DistilBertForSequenceClassification, dict(num_labels=3), {}),
    ("seq_regression", DistilBertForSequenceClassification, dict(num_labels=1), {}),
    ("seq_multi_label", DistilBertForSequenceClassification, dict(num_labels=4, problem_type="multi_label_classification"), {}),
    ("multiple_choice", DistilBertForMultipleChoice, {}, {}),
    ("token_classification", DistilBertForTokenClassification, dict(num_labels=5), {}),
    ("question_answering", DistilBertForQuestionAnswering, {}, {}),
]


def labels_for(head, cfg, gen):
    if head is DistilBertForMaskedLM:
        labels = torch.randint(0, V, (B, L), generator=gen)
        labels[torch.rand((B, L), generator=gen) < 0.6] = -100
        labels[MASK == 0] = -100
        return dict(labels=labels)
    if head is DistilBertForSequenceClassification:
        if cfg.num_labels == 1:
            return dict(labels=torch.randn((B,), generator=gen))
        if cfg.problem_type == "multi_label_classification":
            return dict(labels=(torch.rand((B, cfg.num_labels), generator=gen) < 0.5).float())
        return dict(labels=torch.randint(0, cfg.num_labels, (B,), generator=gen))
    if head is DistilBertForMultipleChoice:
        return dict(labels=torch.randint(0, 3, (B,), generator=gen))
    if head is DistilBertForTokenClassification:
        labels = torch.randint(0, cfg.num_labels, (B, L), generator=gen)
        labels[MASK == 0] = -100
        return dict(labels=labels)
    if head is DistilBertForQuestionAnswering:
        # One position out of range on each side: HF clamps them to L, which is then ignored.
        return dict(start_positions=torch.tensor([2, 30, 0]), end_positions=torch.tensor([5, 7, -4]))
    return {}


class IgnoredInput(Exception):
    """The installed transformers accepts an input of the case but does not apply it."""


def run_case(name, head, overrides, extra, seed, out_dir):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    cfg = config(**overrides)
    model = head(cfg).float()
    model.train()  # gradients; dropout is 0, so train and eval agree
    ids = torch.randint(1, V, (B, L), generator=gen)
    ids[MASK == 0] = 0
    inputs = {"input.input_ids": ids, "input.attention_mask": MASK.clone()}
    kwargs = dict(attention_mask=MASK, output_hidden_states=True, output_attentions=True)
    if head is DistilBertForMultipleChoice:
        # [B, C, L]: the same three rows in each of three choices, shifted so they differ.
        ids = torch.stack([torch.roll(ids, c, dims=1) for c in range(3)], dim=1)
        mask = MASK.unsqueeze(1).expand(B, 3, L).contiguous()
        inputs = {"input.input_ids": ids, "input.attention_mask": mask}
        kwargs["attention_mask"] = mask
    if extra.get("inputs_embeds"):
        embeds = torch.randn((B, L, cfg.dim), generator=gen)
        inputs["input.inputs_embeds"] = embeds
        del inputs["input.input_ids"]
        kwargs["inputs_embeds"] = embeds
    else:
        kwargs["input_ids"] = inputs["input.input_ids"]
    if extra.get("head_mask") == "layers":
        hm = (torch.rand((cfg.n_layers, cfg.n_heads), generator=gen) < 0.7).float()
        hm[0, 0] = 0.5  # not only 0/1: HF multiplies the probabilities by it
        inputs["input.head_mask"] = hm
        kwargs["head_mask"] = hm
    elif extra.get("head_mask") == "shared":
        hm = torch.tensor([1.0, 0.0, 1.0, 0.25])
        inputs["input.head_mask"] = hm
        kwargs["head_mask"] = hm
    for k, v in labels_for(head, cfg, gen).items():
        inputs["input." + k] = v
        kwargs[k] = v

    out = model(**kwargs)
    if "head_mask" in kwargs:
        # transformers 5 still takes head_mask but no longer applies it: such a file would say that
        # a zeroed head changes nothing, which is not what the head mask means (HF 4, the reference).
        without = model(**{k: v for k, v in kwargs.items() if k != "head_mask"})
        if all(torch.equal(a, b) for a, b in zip(out.attentions, without.attentions)):
            raise IgnoredInput(f"transformers {transformers.__version__} ignores head_mask")
    tensors = dict(inputs)
    if head is DistilBertModel:
        probe = torch.randn(out.last_hidden_state.shape, generator=gen)
        tensors["input.probe"] = probe
        loss = (out.last_hidden_state * probe).sum()
        tensors["output.last_hidden_state"] = out.last_hidden_state
    else:
        loss = out.loss
        tensors["output.loss"] = out.loss.reshape(())
        if head is DistilBertForQuestionAnswering:
            tensors["output.start_logits"] = out.start_logits
            tensors["output.end_logits"] = out.end_logits
        else:
            tensors["output.logits"] = out.logits
    for i, h in enumerate(out.hidden_states):
        tensors[f"output.hidden_states.{i}"] = h
    for i, a in enumerate(out.attentions):
        tensors[f"output.attentions.{i}"] = a
    loss.backward()
    for pname, p in model.named_parameters():
        if p.grad is not None:
            tensors["grad." + pname] = p.grad
    # Copies: outputs may share memory (the base model's last hidden state is its last hidden_states
    # entry), which save_file refuses.
    tensors = {k: v.detach().clone().contiguous() for k, v in tensors.items()}
    case_dir = os.path.join(out_dir, name)
    model.save_pretrained(case_dir)  # model.safetensors + config.json
    meta = {"case": name, "head": head.__name__, "transformers": transformers.__version__,
            "torch": torch.__version__, "seed": str(seed)}
    save_file(tensors, os.path.join(case_dir, "io.safetensors"), metadata=meta)
    return {"case": name, "head": head.__name__, "tensors": len(tensors)}


# --- HF's text-classification pipeline (what `distilbert score` / TextClassification reproduce) ----
# A 99-token WordPiece vocabulary (V), so the random classifiers above fit it; texts made of its words,
# with a subword (##ly), punctuation, an unknown word, and a pair.
PIPELINE_VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                  + "the a an this that it i you we movie film book plot acting music story was is are be "
                    "not very so too really quite good great fine bad awful boring fun love loved hate hated "
                    "like liked and but or of to in on at with for ending start end time".split()
                  + ["##ly", "##s", "##ed", "##ing", ".", ",", "!", "?", "'"])
PIPELINE_VOCAB += [f"w{i}" for i in range(V - len(PIPELINE_VOCAB))]
PIPELINE_TEXTS = ["this movie was great!", "I hated the ending, but the acting is fine.", "awfully boring",
                  "zzyzx plot?", "The music was really, really good and the story was fun."]
PIPELINE_PAIRS = [["the plot was boring", "but I loved the music"], ["great film", "awful book"]]
PIPELINE_CASES = [
    # name, config overrides (id2label shows in the labels; the function follows problem_type / num_labels)
    ("pipeline_single_label", dict(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                                   label2id={"negative": 0, "neutral": 1, "positive": 2})),
    ("pipeline_one_label_sigmoid", dict(num_labels=1)),
    ("pipeline_multi_label", dict(num_labels=4, problem_type="multi_label_classification")),
]


def pipeline_model(head, name, overrides, seed, out_dir):
    """A random model of class head and PIPELINE_VOCAB's tokenizer, saved in out_dir/name as HF saves them
    (tokenizer.json too): (model, tokenizer, case_dir)."""
    torch.manual_seed(seed)
    model = head(config(**overrides)).float().eval()
    case_dir = os.path.join(out_dir, name)
    tok = save_pipeline_tokenizer(case_dir)
    model.save_pretrained(case_dir)
    return model, tok, case_dir


def run_pipeline_case(name, overrides, seed, out_dir):
    """The classifier and its tokenizer saved as HF saves them, and the pipeline's output as expected.json."""
    model, tok, case_dir = pipeline_model(DistilBertForSequenceClassification, name, overrides, seed, out_dir)
    clf = transformers.pipeline("text-classification", model=model, tokenizer=tok, device=-1)
    expected = {"texts": PIPELINE_TEXTS, "pairs": PIPELINE_PAIRS,
                "top1": clf(PIPELINE_TEXTS),
                "all": clf(PIPELINE_TEXTS, top_k=None),
                "pairs_all": [clf({"text": a, "text_pair": b}, top_k=None) for a, b in PIPELINE_PAIRS],
                "tokens": [tok(t)["input_ids"] for t in PIPELINE_TEXTS],
                "transformers": transformers.__version__}
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return {"case": name, "task": "text-classification", "texts": len(PIPELINE_TEXTS), "pairs": len(PIPELINE_PAIRS)}


# --- HF's token-classification pipeline (what `distilbert ner` / TokenClassification reproduce) ----
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# Subwords (films, awfully, endings, booking), unknown words (were, zzyzx, the dash, CJK), a character
# outside the BMP (offsets in code points), accents stripped by the normalizer (same length: no
# subword) and a decomposed accent (o + U+0301: the token is shorter than its text, which HF's test
# takes for a subword), punctuation.
NER_TEXTS = ["I loved the films and the music .", "the acting was awfully boring, but the endings were fun!",
             "\U0001F642 The Plot \u2014 Booking time?", "Th\u00e9 \u00e9nding of the st\u00f3ry", "zzyzx plot?",
             "the sto\u0301ry was good", "the \u6620\u753b movie", "It was a film. I liked it, you hated it; we are fine."]
NER_WORDS = "the movie was really good and the music was fun but the films had awfully bad endings".split()


def ner_text(tok, n_tokens):
    """Words of NER_WORDS, cycled, until the text is exactly n_tokens tokens long (special tokens not counted)."""
    words, i = [], 0
    while True:
        w = NER_WORDS[i % len(NER_WORDS)]
        i += 1
        n = len(tok(" ".join(words + [w]), add_special_tokens=False)["input_ids"])
        if n <= n_tokens:
            words.append(w)
        if n >= n_tokens:
            if len(tok(" ".join(words), add_special_tokens=False)["input_ids"]) == n_tokens:
                return " ".join(words)


def windows_cover(tok, text, stride):
    """Whether the tokenizer's overflowing windows reach the end of the text (tokenizers < 0.23.1 or fixed)."""
    enc = tok(text, truncation=True, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    last = max(o[1] for window in enc["offset_mapping"] for o in window)
    return last == max(o[1] for o in tok(text, return_offsets_mapping=True)["offset_mapping"])


def run_ner_case(name, seed, out_dir):
    """The token classifier and its tokenizer saved as HF saves them, and the pipeline's entities as expected.json."""
    torch.manual_seed(seed)
    id2label = dict(enumerate(NER_LABELS))
    model = DistilBertForTokenClassification(config(num_labels=len(NER_LABELS), id2label=id2label,
                                                    label2id={v: k for k, v in id2label.items()})).float().eval()
    tok = save_pipeline_tokenizer(os.path.join(out_dir, name))
    model.save_pretrained(os.path.join(out_dir, name))
    ner = transformers.pipeline("token-classification", model=model, tokenizer=tok, device=-1)
    runs = []
    for aggregation in ["none", "simple", "first", "average", "max"]:
        for ignore in [None, []]:
            kw = {"aggregation_strategy": aggregation}
            if ignore is not None:
                kw["ignore_labels"] = ignore
            runs.append({"aggregation": aggregation, "ignore_labels": ignore, "stride": None, "texts": NER_TEXTS,
                         "entities": ner(NER_TEXTS, **kw)})
    # Longer than model_max_length (P): one text of exactly P tokens, whose windows every tokenizers
    # version cuts alike, and a long one, whose windows tokenizers 0.23.1+ cuts short.
    exact, long = ner_text(tok, P), ner_text(tok, 3 * P)
    for aggregation in ["simple", "first", "average", "max"]:
        for stride in [0, 8, 30]:
            for text in [exact, long]:
                runs.append({"aggregation": aggregation, "ignore_labels": [], "stride": stride, "texts": [text],
                             "covers_text": windows_cover(tok, text, stride),
                             "entities": ner([text], aggregation_strategy=aggregation, ignore_labels=[], stride=stride)})
    expected = {"texts": NER_TEXTS, "tokens": [tok(t)["input_ids"] for t in NER_TEXTS], "runs": runs,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    with open(os.path.join(out_dir, name, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, default=float)  # scores are numpy float32
    return {"case": name, "task": "token-classification", "texts": len(NER_TEXTS), "runs": len(runs)}


def save_pipeline_tokenizer(case_dir):
    """PIPELINE_VOCAB as vocab.txt with a tokenizer_config.json, loaded and saved again (tokenizer.json too)."""
    os.makedirs(case_dir, exist_ok=True)
    with open(os.path.join(case_dir, "vocab.txt"), "w") as f:
        f.write("\n".join(PIPELINE_VOCAB) + "\n")
    with open(os.path.join(case_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": P, "tokenizer_class": "BertTokenizer"}, f)
    tok = transformers.AutoTokenizer.from_pretrained(case_dir)
    tok.save_pretrained(case_dir)
    return tok


# --- HF's fill-mask pipeline (what `distilbert fill-mask` / FillMask reproduce) ----------------------
# Texts with one mask and with several (a list per mask, whose sequences keep the special tokens), a
# mask first and last; targets that are tokens, one cased (its lowercase token, with a warning), one
# split into subwords (its first), one unknown ([UNK]) and two that come to the same token.
FILL_MASK_TEXTS = ["this movie was [MASK]!", "I [MASK] the ending, but the acting is [MASK].", "[MASK] boring",
                   "The music was really, really good and the story was [MASK]", "[MASK] [MASK] [MASK]"]
FILL_MASK_TARGETS = ["good", "bad", "fun", "Boring", "lovely", "zzyzx", "Fun"]
FILL_MASK_CASES = [
    # name, config overrides
    ("pipeline_fill_mask", {}),
    ("pipeline_fill_mask_sinusoidal_gelu_new", dict(sinusoidal_pos_embds=True, activation="gelu_new")),
]


def run_fill_mask_case(name, overrides, seed, out_dir):
    """A random DistilBertForMaskedLM and its tokenizer, and the fill-mask pipeline's output as expected.json."""
    torch.manual_seed(seed)
    model = DistilBertForMaskedLM(config(**overrides)).float().eval()
    tok = save_pipeline_tokenizer(os.path.join(out_dir, name))
    model.save_pretrained(os.path.join(out_dir, name))
    fill = transformers.pipeline("fill-mask", model=model, tokenizer=tok, device=-1)
    expected = {"texts": FILL_MASK_TEXTS, "targets": FILL_MASK_TARGETS,
                "top5": [fill(t) for t in FILL_MASK_TEXTS],
                "top2": [fill(t, top_k=2) for t in FILL_MASK_TEXTS],
                "targets_top3": [fill(t, targets=FILL_MASK_TARGETS, top_k=3) for t in FILL_MASK_TEXTS],
                "targets_all": [fill(t, targets=FILL_MASK_TARGETS, top_k=100) for t in FILL_MASK_TEXTS],
                "target_ids": sorted(int(i) for i in fill.get_target_ids(FILL_MASK_TARGETS)),
                "tokens": [tok(t)["input_ids"] for t in FILL_MASK_TEXTS],
                "transformers": transformers.__version__}
    with open(os.path.join(out_dir, name, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return {"case": name, "task": "fill-mask", "texts": len(FILL_MASK_TEXTS)}


# --- HF's question-answering pipeline (what `distilbert qa` / QuestionAnswering reproduce) ---------------
# Contexts of the vocabulary's words with a subword (awful ##ly), unknown words, punctuation, a character
# outside the BMP (offsets are code points) and a word in two cases (answers merge lower-cased).
QA_INPUTS = [
    ["what was great?", "The film was great, but the music \U0001F3B5 was really awful."],
    ["what was boring?", "The plot was fine, but the acting was awfully boring \U0001F3B5 and BAD."],
    ["who loved the music?", "I loved the music \U0001F3B5 and the story, but the acting was awfully boring. The plot "
                             "was fine and the ending was good; it was a fun film to see at the start."],
]
# Pipeline arguments and the inputs (QA_INPUTS indices) each call answers. tokenizers 0.23 stops tokenizing a
# sequence at max_length tokens (huggingface/tokenizers#2091), so its windows are those of 0.22, which the
# pipeline was written for, only where the context has at most max_seq_len tokens: 13 and 16 tokens at 16, 38
# at HF's default 40 (model_max_length P). The last call's 38 tokens at 16 tell which the machine has.
QA_CALLS = [
    ({}, [0, 1, 2]),                                                   # doc_stride 20: the long context in 2 windows
    ({"max_seq_len": 16, "doc_stride": 4}, [0, 1]),                    # 2 and 3 windows
    ({"max_seq_len": 16, "doc_stride": 4, "top_k": 3}, [0, 1]),
    ({"max_seq_len": 16, "doc_stride": 4, "top_k": 3, "handle_impossible_answer": True}, [0, 1]),
    ({"top_k": 3, "max_answer_len": 2, "handle_impossible_answer": True}, [0, 1, 2]),
    ({"max_seq_len": 16, "doc_stride": 4, "top_k": 2}, [2]),
]
QA_CASES = [
    # name, config overrides
    ("pipeline_qa", {}),
    ("pipeline_qa_relu_sinusoidal", dict(activation="relu", sinusoidal_pos_embds=True)),
]


def qa_reference(model, tok, question, context, top_k=1, max_answer_len=15, max_seq_len=None, doc_stride=None,
                 handle_impossible_answer=False):
    """transformers 5.2's question-answering pipeline, step by step (fast tokenizer, question first, one window
    at a time): masked softmax, spans in the band, words, equal answers merged, the null answer."""
    max_seq_len = max_seq_len or min(tok.model_max_length, 384)
    doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
    enc = tok(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True)
    answers, min_null = [], 1000000
    for window in enc.encodings:
        ids, n = window.ids, len(window.ids)
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([window.attention_mask]))
        ok = np.array([s == 1 or i == tok.cls_token_id for s, i in zip(window.sequence_ids, ids)])  # 1 - p_mask
        probs = []
        for logits in (out.start_logits[0].numpy(), out.end_logits[0].numpy()):
            x = np.where(ok, logits, np.float32(-10000.0))
            x = np.exp(x - x.max())
            probs.append(x / x.sum())
        ps, pe = probs
        if handle_impossible_answer:
            min_null = min(min_null, float(ps[0] * pe[0]))
        ps[0] = pe[0] = 0.0
        scores = np.tril(np.triu(np.outer(ps, pe)), max_answer_len - 1).flatten()
        best = np.argsort(-scores, kind="stable")[:top_k]  # HF: argpartition and argsort; exact ties may differ
        for s, e in [(int(i) // n, int(i) % n) for i in best if ok[i // n] and ok[i % n]]:
            try:  # align_to_words: from the start of s's word to the end of e's, among this window's tokens
                start = window.word_to_chars(window.token_to_word(s), sequence_index=1)[0]
                end = window.word_to_chars(window.token_to_word(e), sequence_index=1)[1]
            except Exception:  # [CLS] has no word
                start, end = window.offsets[s][0], window.offsets[e][1]
            same = [a for a in answers if a["answer"].lower() == context[start:end].lower()]
            if same:
                same[0]["score"] += float(scores[s * n + e])
            else:
                answers.append({"score": float(scores[s * n + e]), "start": start, "end": end, "answer": context[start:end]})
    if handle_impossible_answer:
        answers.append({"score": min_null, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]


def run_qa_case(name, overrides, seed, out_dir):
    """A random DistilBertForQuestionAnswering with PIPELINE_VOCAB's tokenizer, and the pipeline's answers."""
    model, tok, case_dir = pipeline_model(DistilBertForQuestionAnswering, name, overrides, seed, out_dir)
    try:
        qa = transformers.pipeline("question-answering", model=model, tokenizer=tok, device=-1)
        reference = "transformers.pipeline"
    except (KeyError, ValueError):  # "Unknown task question-answering": transformers 5.3 or later
        qa = lambda question, context, **kw: qa_reference(model, tok, question, context, **kw)  # noqa: E731
        reference = f"make_golden.qa_reference (transformers {transformers.__version__} has no question-answering pipeline)"
    calls = []
    for args, inputs in QA_CALLS:
        max_seq_len = args.get("max_seq_len", min(tok.model_max_length, 384))
        doc_stride = args.get("doc_stride", min(max_seq_len // 2, 128))
        windows, answers = [], []
        for q, c in (QA_INPUTS[i] for i in inputs):
            windows.append(tok(q, c, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                               return_overflowing_tokens=True)["input_ids"])
            got = qa(question=q, context=c, **args)
            answers.append([got] if isinstance(got, dict) else list(got))  # HF gives one answer as a dict
        calls.append({"args": args, "inputs": inputs, "windows": windows, "answers": answers})
    expected = {"reference": reference, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "inputs": [{"question": q, "context": c} for q, c in QA_INPUTS], "calls": calls}
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return {"case": name, "task": "question-answering", "calls": len(calls), "reference": reference}


# --- multiple choice (what `distilbert multiple-choice` / MultipleChoice reproduce) --------------------
# transformers has no pipeline for it: the reference is the model run as HF's documentation and its SWAG
# example run it, one question at a time: the tokenizer on ([prompt] * n, choices) with truncation=True
# (longest_first to model_max_length, P) and padding=True, the batch unsqueezed to [1, n, L], the
# softmax of the logits. Questions of 2 to 5 choices, an empty choice, an unknown word, and prompts and
# choices long enough to be truncated (longest_first cuts from both sides).
MC_LONG = " ".join(["the movie was really good and the music was fun but the ending was boring"] * 3)
MC_QUESTIONS = [
    ["the movie was", ["great!", "awful.", "a book", "zzyzx"]],
    ["I loved the acting, but", ["the plot was boring.", "the music was fun."]],
    ["this film", ["is a movie", "", "was not very good", "hated the start", "loved it"]],
    [MC_LONG, ["and it was fine.", "but " + MC_LONG]],
    ["it was", [MC_LONG, "fun"]],
]
MC_CASES = [
    # name, config overrides
    ("pipeline_multiple_choice", {}),
    ("pipeline_multiple_choice_relu_sinusoidal", dict(activation="relu", sinusoidal_pos_embds=True)),
]


def run_multiple_choice_case(name, overrides, seed, out_dir):
    """The multiple-choice model and its tokenizer saved as HF saves them, and each question's rows, logits and
    scores as expected.json."""
    model, tok, case_dir = pipeline_model(DistilBertForMultipleChoice, name, overrides, seed, out_dir)
    questions = []
    with torch.no_grad():
        for prompt, choices in MC_QUESTIONS:
            enc = tok([prompt] * len(choices), choices, truncation=True, padding=True, return_tensors="pt")
            logits = model(**{k: v.unsqueeze(0) for k, v in enc.items()}).logits[0]
            rows = [[int(t) for t, m in zip(ids, mask) if m] for ids, mask in zip(enc["input_ids"], enc["attention_mask"])]
            questions.append({"prompt": prompt, "choices": choices, "input_ids": rows,
                              "logits": logits.tolist(), "scores": logits.softmax(-1).tolist(),
                              "best": int(logits.argmax())})
    expected = {"reference": "DistilBertForMultipleChoice on tokenizer([prompt] * n, choices, truncation=True, "
                             "padding=True) unsqueezed to [1, n, L]; scores = softmax(logits)",
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "questions": questions}
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    return {"case": name, "task": "multiple-choice", "questions": len(questions)}


# --- HF's zero-shot-classification pipeline (what `distilbert zero-shot` / ZeroShotClassification reproduce) --
# Random 3-label "NLI" classifiers: entailment last (MNLI's contradiction/neutral/entailment order), entailment
# first (typeform/distilbert-base-uncased-mnli's order: the contradiction label is then the last), and labels
# with no "entail" (HF takes the last label). Runs: several sequences and labels, single- and multi-label, one
# candidate label (entailment against contradiction), labels as one comma string, a template of our own, a
# label given twice (ties), and a sequence longer than model_max_length (P) that only_first truncation cuts.
ZS_LONG = " ".join(["the movie was really good and the music was fun but the ending was boring"] * 3)
ZS_TEXTS = ["this movie was great!", "I hated the ending, but the acting is fine.", "zzyzx plot?", ZS_LONG]
ZS_RUNS = [
    # texts, candidate labels, keyword arguments
    (ZS_TEXTS, ["movie", "music", "book", "story"], {}),
    (ZS_TEXTS, ["movie", "music", "book", "story"], {"multi_label": True}),
    (ZS_TEXTS[:3], ["good"], {}),
    (ZS_TEXTS[:3], " fun ,boring,, acting ", {"hypothesis_template": "the {0} was {{really}} {0}."}),
    (ZS_TEXTS[:2], ["good", "bad", "good"], {}),
    (ZS_TEXTS, ["the plot", "a very long label about the music and the acting of the film"], {"multi_label": False}),
]
ZS_CASES = [
    # name, config overrides
    ("pipeline_zero_shot", dict(num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                                label2id={"contradiction": 0, "neutral": 1, "entailment": 2})),
    ("pipeline_zero_shot_entailment_first", dict(num_labels=3, activation="relu", sinusoidal_pos_embds=True,
                                                 id2label={0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"},
                                                 label2id={"ENTAILMENT": 0, "NEUTRAL": 1, "CONTRADICTION": 2})),
    ("pipeline_zero_shot_no_entailment", dict(num_labels=3)),
]


def run_zero_shot_case(name, overrides, seed, out_dir):
    """An NLI-style classifier and its tokenizer saved as HF saves them, and the zero-shot pipeline's answers (with
    each pair's input_ids and logits) as expected.json."""
    model, tok, case_dir = pipeline_model(DistilBertForSequenceClassification, name, overrides, seed, out_dir)
    zs = transformers.pipeline("zero-shot-classification", model=model, tokenizer=tok, device=-1)
    runs = []
    for texts, labels, kw in ZS_RUNS:
        answers = zs(texts, labels, **kw)
        parsed = zs._args_parser._parse_labels(labels)
        template = kw.get("hypothesis_template", "This example is {}.")
        pairs = []
        with torch.no_grad():
            for text in texts:
                for label in parsed:
                    enc = zs._parse_and_tokenize([[text, template.format(label)]])
                    pairs.append({"input_ids": enc["input_ids"][0].tolist(),
                                  "logits": model(**enc).logits[0].tolist()})
        runs.append({"texts": texts, "candidate_labels": labels, "parsed_labels": parsed,
                     "hypothesis_template": kw.get("hypothesis_template"), "multi_label": kw.get("multi_label", False),
                     "answers": answers, "pairs": pairs})
    # A hypothesis longer than model_max_length on its own: only_first cannot make room, and the pipeline
    # tokenizes the pair without truncation (its "too short" fallback). Tokens only: the model cannot take it.
    long_label = " ".join(["music"] * (P + 5))
    fallback = zs._parse_and_tokenize([[ZS_TEXTS[0], "This example is {}.".format(long_label)]])
    expected = {"entailment_id": zs.entailment_id, "runs": runs,
                "fallback": {"text": ZS_TEXTS[0], "label": long_label, "input_ids": fallback["input_ids"][0].tolist()},
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, default=float)
    return {"case": name, "task": "zero-shot-classification", "runs": len(runs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "src", "test", "resources", "golden"))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    index, skipped = [], []
    for i, (name, head, ov, ex) in enumerate(CASES):
        try:
            index.append(run_case(name, head, ov, ex, 1000 + i, args.out))
        except (TypeError, IgnoredInput) as e:
            # e.g. a transformers version whose forward no longer takes head_mask, or ignores it
            skipped.append({"case": name, "why": str(e)})
            print(f"skipped {name}: {e}")
    pipelines = []

    def guarded(name, run):
        """run()'s case into pipelines, or the case skipped with the reason: each stands on its own."""
        try:
            pipelines.append(run())
        except Exception as e:  # noqa: BLE001
            skipped.append({"case": name, "why": f"{type(e).__name__}: {e}"})
            print(f"skipped {name}: {type(e).__name__}: {e}")

    for i, (name, ov) in enumerate(PIPELINE_CASES):
        guarded(name, lambda: run_pipeline_case(name, ov, 2000 + i, args.out))
    guarded("pipeline_token_classification", lambda: run_ner_case("pipeline_token_classification", 3000, args.out))
    for i, (name, ov) in enumerate(FILL_MASK_CASES):
        guarded(name, lambda: run_fill_mask_case(name, ov, 2100 + i, args.out))
    for i, (name, ov) in enumerate(QA_CASES):
        guarded(name, lambda: run_qa_case(name, ov, 3100 + i, args.out))
    for i, (name, ov) in enumerate(MC_CASES):
        guarded(name, lambda: run_multiple_choice_case(name, ov, 3200 + i, args.out))
    for i, (name, ov) in enumerate(ZS_CASES):
        guarded(name, lambda: run_zero_shot_case(name, ov, 3300 + i, args.out))
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "cases": index,
                   "pipelines": pipelines, "skipped": skipped}, f, indent=1)
    print(f"wrote {len(index)} cases and {len(pipelines)} pipeline cases to {args.out}, skipped {len(skipped)}")


if __name__ == "__main__":
    main()
