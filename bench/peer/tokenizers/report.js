#!/usr/bin/env node
// Writes the markdown results of bench/run-tokenizer-bench.sh to stdout, from the folder it
// collected: machine.json, commands.txt, java-*.json (JMH -rf json, one benchmark each),
// hf-<mode>-<1|all>.json (bench.js --json, one mode each) and phases.txt (name, wall seconds,
// CPU seconds other processes used meanwhile, attempts).
// Usage: node report.js DIR
'use strict';

const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node report.js DIR\n');
  process.exit(2);
}
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const files = fs.readdirSync(dir).sort();
const machine = read('machine.json');
const commands = fs.readFileSync(path.join(dir, 'commands.txt'), 'utf8').trim().split('\n');
const jmh = files.filter((f) => /^java-.*\.json$/.test(f)).flatMap(read);
const hfRuns = files.filter((f) => /^hf-.*\.json$/.test(f)).map(read);
const phases = fs.readFileSync(path.join(dir, 'phases.txt'), 'utf8').trim().split('\n').map((l) => {
  const [name, wall, others, attempts] = l.split(' ');
  return { name, wall: Number(wall), others: Number(others), attempts: Number(attempts) };
});

const num = (x) => (typeof x === 'number' ? x : Number(x)); // JMH writes "NaN" as a string
const M = (x) => (Number.isFinite(num(x)) ? (num(x) / 1e6).toFixed(2) : 'n/a');
const F = (x) => (Number.isFinite(num(x)) ? num(x).toFixed(2) : 'n/a');
const java = {};
for (const r of jmh) {
  const method = r.benchmark.split('.').pop();
  const key = `${r.params.workload}.${method}`;
  const sec = r.secondaryMetrics;
  java[key] = {
    workload: r.params.workload, method,
    passes: r.primaryMetric.score, passesErr: num(r.primaryMetric.scoreError),
    rounds: r.primaryMetric.rawData.flat(),
    tokens: sec.tokens.score, tokensErr: num(sec.tokens.scoreError),
    chars: sec.chars.score, charsErr: num(sec.chars.scoreError),
    tokensPerPass: sec.tokens.score / r.primaryMetric.score,
    jvmArgs: r.jvmArgs, forks: r.forks, warmup: `${r.warmupIterations} × ${r.warmupTime}`,
    measurement: `${r.measurementIterations} × ${r.measurementTime}`, threads: r.threads,
  };
}
const hf = {};
for (const run of hfRuns) {
  for (const [mode, r] of Object.entries(run.modes)) {
    const one = run.rayon_num_threads === '1';
    const threads = one ? '1 (RAYON_NUM_THREADS=1)'
      : mode === 'concurrent-records' ? `libuv pool (${run.uv_threadpool_size || 4} threads)` : `all (Rayon default: ${machine.nproc})`;
    hf[`${mode}@${one ? 1 : 'all'}`] = { ...r, mode, threads };
  }
}
const hf1 = hfRuns[0];

const lines = [];
const p = (s = '') => lines.push(s);

p(`# Tokenizer throughput: Java vs HuggingFace tokenizers (${machine.date}, ${machine.host_kind})`);
p();
if (machine.quick) p('**Quick run (1 warmup, 2 short rounds): a check of the pipeline, not a result.**\n');
p('Written by `bench/run-tokenizer-bench.sh`; bench/README.md says what each number measures.');
p('Corpus: `tokenizer/src/test/resources/parity/corpus.jsonl.gz`; tokenizer: bert-base-uncased\'s `tokenizer.json` as shipped in');
p(`\`${path.basename(machine.tokenizer_jar)}\` (truncation and padding off on both sides). Tokens = ids produced, [CLS]/[SEP] included;`);
p('chars = UTF-16 code units of the input. One pass = the whole corpus once.');
p();
p('## Machine');
p();
p('| | |');
p('| --- | --- |');
p(`| CPU | ${machine.cpu}, ${machine.nproc} cores (nproc) |`);
p(`| memory | ${machine.memory} |`);
p(`| OS | ${machine.kernel} |`);
p(`| JDK | ${machine.jdk} |`);
p(`| node | ${machine.node}, tokenizers ${hf1.tokenizers} (npm) |`);
p();
p('## Commands');
p();
p('```');
p('./dev mvn -pl bench -am install -DskipTests');
for (const c of commands) p(c);
p('```');
const anyJava = Object.values(java)[0];
p();
p(`JMH: ${anyJava.forks} fork, warmup ${anyJava.warmup}, measurement ${anyJava.measurement}, ${anyJava.threads} benchmark thread, ` +
  `JVM options \`${anyJava.jvmArgs.join(' ') || '(none)'}\`; score ± error is JMH's 99.9% interval. ` +
  `Peer: ${hf1.warmup} warmup + ${hf1.rounds} measured rounds of ≥ ${hf1.round_seconds} s (whole passes), median [min, max] over the measured rounds.`);
p();

// ---- token counts ----
p('## Same work on both sides');
p();
p('| workload | inputs | Java tokens/pass | HF tokens/pass | equal |');
p('| --- | ---: | ---: | ---: | --- |');
let allEqual = true;
for (const wl of ['records', 'sequences']) {
  const j = Object.values(java).find((x) => x.workload === wl);
  const h = Object.values(hf).find((x) => x.workload === wl);
  if (!j || !h) continue;
  const jt = Math.round(j.tokensPerPass);
  const eq = jt === h.tokens_per_pass;
  allEqual = allEqual && eq;
  p(`| ${wl} | ${h.inputs} | ${jt} | ${h.tokens_per_pass} | ${eq ? 'yes' : '**NO**'} |`);
}
p();
p('`records`: each corpus record encoded as `encode(text, text_pair)`; `sequences`: every text and every text_pair encoded ' +
  'alone (what the node binding\'s `encodeBatch`, which takes no pairs, can batch).');
p();

// ---- raw numbers ----
p('## Java (JMH, `distilbert.bench.TokenizerBenchmark`)');
p();
p('| benchmark | workload | passes/s | M tokens/s | M chars/s | passes/s per iteration |');
p('| --- | --- | ---: | ---: | ---: | --- |');
for (const j of Object.values(java).sort((a, b) => a.method.localeCompare(b.method) || a.workload.localeCompare(b.workload))) {
  p(`| ${j.method} | ${j.workload} | ${F(j.passes)} ± ${F(j.passesErr)} | ${M(j.tokens)} ± ${M(j.tokensErr)} | ${M(j.chars)} ± ${M(j.charsErr)} | ${j.rounds.map(F).join(', ')} |`);
}
p();
p('## HuggingFace tokenizers (node, `bench/peer/tokenizers/bench.js`)');
p();
p('| mode | threads | workload | passes/s median [min, max] | M tokens/s median [min, max] | M chars/s median | CPU/wall | passes/s per round |');
p('| --- | --- | --- | ---: | ---: | ---: | ---: | --- |');
for (const h of Object.values(hf)) {
  const ps = h.passes_per_s, ts = h.tokens_per_s;
  p(`| ${h.mode} | ${h.threads} | ${h.workload} | ${ps.median.toFixed(2)} [${ps.min.toFixed(2)}, ${ps.max.toFixed(2)}] | ` +
    `${M(ts.median)} [${M(ts.min)}, ${M(ts.max)}] | ${M(h.chars_per_s.median)} | ${h.cpu_per_wall.toFixed(2)} | ${ps.rounds.map(F).join(', ')} |`);
}
p();
p('CPU/wall: the node process\'s CPU time over wall time in the measured rounds (1.0 = one core busy), the check that a one-thread mode ran on one thread.');
p();

// ---- ratios ----
p('## Ratios (Java / HF, tokens/s)');
p();
p('| comparison | Java | HF | Java / HF | range |');
p('| --- | --- | --- | ---: | ---: |');
const ratio = (label, jk, hk) => {
  const j = java[jk], h = hf[hk];
  if (!j || !h) return;
  const r = j.tokens / h.tokens_per_s.median;
  const err = Number.isFinite(j.tokensErr) ? j.tokensErr : 0;
  const lo = (j.tokens - err) / h.tokens_per_s.max, hi = (j.tokens + err) / h.tokens_per_s.min;
  p(`| ${label} | \`${jk}\` ${M(j.tokens)} M/s | \`${h.mode}\`, ${h.threads}: ${M(h.tokens_per_s.median)} M/s | **${r.toFixed(2)}** | ${lo.toFixed(2)} – ${hi.toFixed(2)} |`);
};
ratio('single thread (the goal)', 'sequences.singleThread', 'batch-sequences@1');
ratio('single thread, one call per record', 'records.singleThread', 'encode-records@1');
ratio('single thread, one call per sequence', 'sequences.singleThread', 'encode-sequences@1');
ratio('all threads', 'sequences.allThreads', 'batch-sequences@all');
ratio('all threads, records with pairs', 'records.allThreads', 'concurrent-records@all');
p();
p('range: Java\'s score ± its error against HF\'s slowest and fastest round.');
p();

// ---- load ----
p('## Background load');
p();
p('| phase | wall s | CPU s used by other processes | attempts |');
p('| --- | ---: | ---: | ---: |');
for (const ph of phases) p(`| ${ph.name} | ${ph.wall.toFixed(1)} | ${ph.others.toFixed(1)} | ${ph.attempts} |`);
p();
p('Other processes\' CPU = all CPU time the machine spent (/proc/stat) minus the CPU time of the benchmark\'s own process tree. ' +
  `A phase that lost more than 2% of the machine (${machine.nproc} cores) to them was run again, up to ${machine.attempts} times, ` +
  'and the least disturbed attempt is the one reported; a large value left here means every attempt was disturbed.');
if (!allEqual) p('\n**Token counts differ: the two sides did not do the same work; the ratios are not comparable.**');
process.stdout.write(lines.join('\n') + '\n');
