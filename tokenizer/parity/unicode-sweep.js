// Classifies every Unicode scalar value the way HuggingFace tokenizers' BERT pipeline does and
// writes a compact table (tokenizer/src/test/resources/parity/unicode-sweep.tsv.gz) that
// UnicodeSweepTest compares our Java tables against, code point by code point.
// Columns: first code point (hex), last code point (hex), clean class, pre-tokenizer class,
//          default-normalizer output (hex code points joined by '.', '=' when unchanged, '-' when removed).
//   clean class:   K kept, R removed (control/format/private use), W mapped to a space
//   pretok class:  N none, S whitespace split, P punctuation (isolated)
//   The default normalizer is the bert-base-uncased one: clean text, Chinese characters, lowercase,
//   strip accents (NFD, drop Mn). 'C' marks a Chinese character, padded with spaces and otherwise unchanged.
// Consecutive code points with the same classes and an unchanged, removed or Chinese normalization are merged.
// Usage: node unicode-sweep.js OUT.tsv   (needs `npm ci` in this folder)
const fs = require('fs');
const tk = require('tokenizers');
const clean = tk.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
const full = tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true });
const pre = tk.bertPreTokenizer();
const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join('.');
const rows = [];
let cur = null;
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  const cl = clean.normalizeString(c);
  const cc = cl === '' ? 'R' : cl === c ? 'K' : cl === ' ' ? 'W' : '?' + hex(cl);
  // Pre-tokenize without normalization: 'a' c 'b' gives 3 pieces for punctuation, 2 for whitespace.
  const n = pre.preTokenizeString('a' + c + 'b').length;
  const pc = n === 3 ? 'P' : n === 2 ? 'S' : 'N';
  const f = full.normalizeString(c);
  const fc = f === c ? '=' : f === '' ? '-' : f === ' ' + c + ' ' ? 'C' : hex(f);
  const mergeable = fc === '=' || fc === '-' || fc === 'C';
  if (cur && mergeable && cur.cc === cc && cur.pc === pc && cur.fc === fc && cur.last === cp - 1 - (cp === 0xe000 ? 0x800 : 0)) {
    cur.last = cp;
  } else {
    cur = { first: cp, last: cp, cc, pc, fc };
    rows.push(cur);
  }
}
const out = rows.map((r) => [r.first.toString(16), r.last.toString(16), r.cc, r.pc, r.fc].join('\t')).join('\n') + '\n';
fs.writeFileSync(process.argv[2], out);
console.error(`${rows.length} rows`);
