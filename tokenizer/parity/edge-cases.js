#!/usr/bin/env node
// Writes ../src/test/resources/parity/edge-cases.jsonl: hand-made inputs that poke at the corners of
// BERT normalisation, pre-tokenisation, WordPiece and special-token handling.
// Invisible characters (controls, format characters, exotic spaces, combining marks, variation
// selectors) are written as \uXXXX escapes so the file stays readable; everything else is literal.
// Usage: node edge-cases.js [output.jsonl]
'use strict';
const fs = require('fs');
const path = require('path');

const OUT = process.argv[2] || path.join(__dirname, '..', 'src', 'test', 'resources', 'parity', 'edge-cases.jsonl');
const cases = [];
const add = (id, text, text_pair) => cases.push(text_pair === undefined ? { id, text } : { id, text, text_pair });
const rep = (s, n) => s.repeat(n);
const cp = (n) => String.fromCodePoint(n);

// ---------------------------------------------------------------- empty / whitespace / control only
add('empty', '');
add('space-only', ' ');
add('whitespace-only-mixed', ' \t\n\r\u00a0\u3000 ');
add('newlines-only', rep('\n', 40));
add('control-only', '\u0000\u0001\u0002\u007f\u0085\u200b\ufeff');
add('replacement-char-only', '\ufffd');

// ---------------------------------------------------------------- control and format characters
add('ctrl-nul-inside-word', 'foo\u0000bar');
add('ctrl-nul-between-words', 'foo \u0000 bar');
add('ctrl-soh-stx', 'a\u0001b\u0002c');
add('ctrl-del-7f', 'delete\u007fme');
add('ctrl-nel-0085', 'next\u0085line');
add('ctrl-vt-ff', 'vertical\u000btab form\u000cfeed');
add('ctrl-fs-gs-rs-us', 'a\u001cb\u001dc\u001ed\u001ff');
add('ctrl-c1-range', 'x\u0080\u0081\u009fy');
add('zwsp-200b', 'zero\u200bwidth\u200b space');
add('zwnj-zwj', 'می\u200cخواهم and a\u200db');
add('bom-feff-start', '\ufeffbyte order mark at start');
add('bom-feff-inside', 'in\ufeffside');
add('replacement-char-fffd', 'broken \ufffd char and glued\ufffdword');
add('soft-hyphen-00ad', 'hyphen\u00adation');
add('bidi-marks', 'left\u200eright\u200f \u202aembedded\u202c \u2066isolate\u2069');
add('mongolian-vowel-separator-180e', 'a\u180eb');
add('word-joiner-2060', 'word\u2060joiner');
add('private-use-e000', 'private \ue000 use \uf8ff and plane15 ' + cp(0xf0000));
add('noncharacter-ffff', 'non\uffffchar');
add('unassigned-0378', 'greek gap \u0378 here');
add('tag-characters-e0001', 'tag' + cp(0xe0001) + cp(0xe0041) + 'chars');
add('interlinear-annotation-fff9', 'a\ufff9b\ufffac\ufffbd');

// ---------------------------------------------------------------- exotic spaces
const spaces = [
  ['tab', '\t'], ['lf', '\n'], ['cr', '\r'], ['crlf', '\r\n'], ['nbsp-00a0', '\u00a0'],
  ['ogham-1680', '\u1680'], ['en-quad-2000', '\u2000'], ['em-quad-2001', '\u2001'],
  ['en-space-2002', '\u2002'], ['em-space-2003', '\u2003'], ['three-per-em-2004', '\u2004'],
  ['four-per-em-2005', '\u2005'], ['six-per-em-2006', '\u2006'], ['figure-space-2007', '\u2007'],
  ['punctuation-space-2008', '\u2008'], ['thin-space-2009', '\u2009'], ['hair-space-200a', '\u200a'],
  ['line-separator-2028', '\u2028'], ['paragraph-separator-2029', '\u2029'],
  ['narrow-nbsp-202f', '\u202f'], ['math-space-205f', '\u205f'], ['ideographic-space-3000', '\u3000'],
];
for (const [name, s] of spaces) add('space-' + name, `left${s}right`);
add('space-all-kinds-together', 'a' + spaces.map(([, s]) => s).join('') + 'b');
add('space-long-run-500', 'start' + rep(' ', 500) + 'end');
add('space-long-mixed-run', 'x' + rep(' \t\u00a0\u3000\n', 60) + 'y');
add('space-leading-trailing', '   padded text   ');
add('space-tabs-newlines', 'col1\tcol2\tcol3\nval1\tval2\tval3\r\n');

// ---------------------------------------------------------------- accents and combining marks
add('accent-precomposed', 'café naïve résumé');
add('accent-decomposed', 'cafe\u0301 nai\u0308ve re\u0301sume\u0301');
add('accent-uppercase-precomposed', 'CAFÉ ÉCOLE ÇA ÅNGSTRÖM');
add('accent-combining-at-start', '\u0301leading combining mark');
add('accent-combining-alone', '\u0301');
add('accent-combining-after-space', 'a \u0301 b');
add('accent-stacked-marks', 'e\u0301\u0302\u0323x');
add('accent-after-punctuation', '!\u0301 ?\u0308');
add('accent-angstrom-kelvin-ohm', 'Å K Ω');
add('vietnamese', 'Tiếng Việt có dấu: Người ta thường nói rằng học tiếng Việt rất khó.');
add('vietnamese-decomposed', 'Tie\u0302\u0301ng Vie\u0323\u0302t');
add('polish-czech', 'Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy.');
add('hangul-syllables', '안녕하세요 세계! 한국어 텍스트입니다.');
add('hangul-compat-jamo', 'ㅋㅋㅋ ㅎㅎ ㄱㄴㄷ');
add('hangul-conjoining-jamo', '\u1112\u1161\u11ab\u1100\u1173\u11af');
add('arabic-with-harakat', 'بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ');
add('arabic-plain', 'اللغة العربية جميلة');
add('arabic-indic-digits', 'العدد ١٢٣٤٥ و ۶۷۸');
add('hebrew-niqqud', 'שָׁלוֹם עוֹלָם');
add('devanagari', 'नमस्ते दुनिया। हिन्दी भाषा क़लम');
add('tamil-bengali', 'தமிழ் மொழி বাংলা ভাষা');
add('thai-no-spaces', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ');
add('greek-tonos', 'Ελληνικά: άέήίόύώ ΐΰ');
add('cyrillic', 'Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка, йод, Ї ї Ґ ґ');
add('georgian-armenian', 'ქართული ენა Հայերեն լեզու և');
add('ethiopic', 'ሰላም ለዓለም');
add('cherokee-case', 'ᏣᎳᎩ ꮳꮃꭹ');

// ---------------------------------------------------------------- case mapping
add('turkish-dotted-capital-i', 'İstanbul İZMİR');
add('turkish-dotless-i', 'ılık ışık DIŞ');
add('german-sharp-s', 'Straße STRASSE ß');
add('german-capital-sharp-s', 'GROẞE ẞ');
add('greek-final-sigma', 'ΟΔΥΣΣΕΥΣ ΣΟΦΟΣ ΚΟΣΜΟΣ.');
add('greek-sigma-lower', 'σοφός κόσμος');
add('titlecase-digraph', 'ǅ ǈ ǋ ǲ');
add('ligatures', 'ﬁnance ﬂow Æsir Œuvre');
add('deseret-astral-case', '𐐀𐐁𐐂 𐐨𐐩');
add('fullwidth-latin', 'ＡＢＣ ｄｅｆ ＨＥＬＬＯ');
add('math-alphanumeric', '𝐀𝐁𝐂 𝒳 𝔸');
add('roman-numerals', 'Ⅻ ⅻ Ⅳ');

// ---------------------------------------------------------------- CJK and Japanese / Korean
add('cjk-japanese-mixed', '日本語text');
add('cjk-chinese-english-mixed', '中文English混合');
add('cjk-english-chinese', 'English中文English');
add('cjk-with-digits', '東京2020オリンピック');
add('cjk-punctuation', '你好，世界！「引用」、句号。（括号）');
add('japanese-hiragana', 'ひらがなとカタカナ');
add('japanese-katakana-long', 'コンピューターネットワーク');
add('japanese-dakuten', 'がぎぐげご パピプペポ');
add('japanese-halfwidth-katakana', 'ｶﾀｶﾅ ｶﾞｷﾞ');
add('japanese-prolonged-mark', 'ラーメン ー');
add('japanese-mixed-sentence', '私はPythonとJavaでプログラムを書きます。');
add('korean-english-mixed', 'BERT모델은 한국어를 잘 처리하나요?');
add('cjk-ext-a-3400', '\u3400\u4db5\u4dbf');
add('cjk-hexagram-4dc0', '\u4dc0\u4dff');
add('cjk-boundary-9fff-a000', '\u9fff\ua000');
add('cjk-compat-f900-faff', '\uf900\ufaff');
add('cjk-ext-b-astral', '𠀀𠀁𪛖 text𠀀text');
add('cjk-ext-b-end-2a6df', cp(0x2a6df) + cp(0x2a6e0) + cp(0x2a700));
add('cjk-ext-c-d-boundaries', [0x2b73f, 0x2b740, 0x2b81f, 0x2b820, 0x2b91f, 0x2b920].map(cp).join(''));
add('cjk-ext-e-f-end', [0x2ceaf, 0x2ceb0, 0x2ebe0].map(cp).join(' '));
add('cjk-ext-g-30000', cp(0x30000) + cp(0x3134a) + 'x');
add('cjk-compat-supplement-2f800', cp(0x2f800) + cp(0x2fa1d) + cp(0x2fa1f) + cp(0x2fa20));
add('cjk-radicals-kangxi', '⺀⺁ ⼀⼁');
add('cjk-bopomofo', 'ㄅㄆㄇㄈ');
add('cjk-ideographic-zero-iteration', '〇〆々');

// ---------------------------------------------------------------- emoji
add('emoji-single', '😀');
add('emoji-smiling-hearts-alone', '🥰');
add('emoji-glued-to-word', 'love🥰you');
add('emoji-glued-end', 'hello😀');
add('emoji-spaced', 'hello 😀 world 🥰 !');
add('emoji-run', '😀😃😄😁');
add('emoji-zwj-family', '👨\u200d👩\u200d👧\u200d👦');
add('emoji-zwj-technologist', '👩🏽\u200d💻 codes');
add('emoji-skin-tones', '👍🏻 👍🏼 👍🏽 👍🏾 👍🏿');
add('emoji-flags', '🇯🇵 🇺🇸🇫🇷 flag🇩🇪');
add('emoji-rainbow-flag', '🏳\ufe0f\u200d🌈');
add('emoji-keycaps', '#\ufe0f\u20e3 1\ufe0f\u20e3 *\ufe0f\u20e3');
add('emoji-variation-selectors', '❤\ufe0f ❤\ufe0e ☺\ufe0f');
add('emoji-bmp-symbols', '☺ ♥ ✓ ★ ☃ ⚡');
add('emoji-recent-unicode', '🫠 🫨 🪿 🩷');
add('emoji-with-punctuation', 'Great job!!! 🎉🎉 (really) 👏.');

// ---------------------------------------------------------------- word length limit (max_input_chars_per_word = 100)
const abc10 = 'abcdefghij';
add('word-len-99-ascii', rep(abc10, 9) + 'abcdefghi');
add('word-len-100-ascii', rep(abc10, 10));
add('word-len-101-ascii', rep(abc10, 10) + 'a');
add('word-len-100-then-punct', rep(abc10, 10) + '!');
add('word-len-101-then-punct', rep(abc10, 10) + 'a!');
add('word-len-100-in-sentence', 'before ' + rep(abc10, 10) + ' after');
add('word-len-101-in-sentence', 'before ' + rep(abc10, 10) + 'x after');
add('word-len-100-continuations', rep('helloworld', 10));
add('word-len-101-continuations', rep('helloworld', 10) + 's');
add('word-len-99-uppercase', rep('UNAFFABLE', 11));
add('word-len-100-precomposed-accents', rep('é', 100));
add('word-len-101-precomposed-accents', rep('é', 101));
add('word-len-100-decomposed-accents', rep('e\u0301', 50));
add('word-len-102-decomposed-accents', rep('e\u0301', 51));
add('word-len-200-decomposed-accents', rep('e\u0301', 100));
add('word-len-100-devanagari-marks', rep('नमा', 33) + 'न');
add('word-len-101-devanagari-marks', rep('नमा', 33) + 'नम');
add('word-len-100-astral', rep('𝐀', 100));
add('word-len-100-astral-mixed', rep('a', 50) + rep('𐐀', 50));
add('word-len-60-dotted-capital-i', rep('İ', 60));
add('word-len-51-dotted-capital-i', rep('İ', 51));
add('word-len-100-kana', rep('カタカナ', 25));
add('word-len-101-kana', rep('カタカナ', 25) + 'ナ');
add('word-len-100-cjk-not-a-word', rep('中文', 60));
add('word-len-300', rep('supercalifragilistic', 15));

// ---------------------------------------------------------------- literal special tokens
add('special-mask-alone', '[MASK]');
add('special-mask-in-sentence', 'The capital of France is [MASK].');
add('special-cls-glued', '[CLS]x');
add('special-sep-inside', 'a[SEP]b');
add('special-lowercase-mask', '[mask]');
add('special-mixedcase-mask', '[Mask] [MASk]');
add('special-spaced-mask', '[ MASK ]');
add('special-unk-literal', 'an [UNK] token');
add('special-pad-literal', '[PAD] padded [PAD]');
add('special-all-five', '[CLS] [SEP] [MASK] [UNK] [PAD]');
add('special-adjacent', '[MASK][MASK][SEP][CLS]');
add('special-nested-brackets', '[[MASK]] [MASK [MASK');
add('special-fullwidth-brackets', '［MASK］');
add('special-with-suffix', '[MASK]ing un[MASK]able');
add('special-padded-whitespace', '   [SEP]   ');
add('special-in-pair', 'question with [MASK]', 'answer with [SEP] inside');

// ---------------------------------------------------------------- punctuation and symbols
add('punct-ascii-all', '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
add('punct-ascii-symbols-glued', 'a$b+c<d=e>f^g`h|i~j');
add('punct-unicode-quotes', '«Bonjour» „Hallo“ “quoted” ‘single’ ‹x›');
add('punct-spanish', '¿Qué tal? ¡Hola!');
add('punct-dashes-ellipsis', 'em—dash en–dash ‐hyphen ‒ ― … etc');
add('punct-cjk', '、。〈〉《》「」『』【】〔〕・〜');
add('punct-misc-po', '§ ¶ · † ‡ • ‰ ′ ″ ※ ‼ ⁇');
add('symbols-not-punct', '€ £ ¥ © ® ™ ° ± × ÷ ¬ ¦ ¨ ¯ ´ ¸ µ');
add('symbols-glued', '100€ 20°C ©2024 a±b 5×3');
add('symbols-math', '∀x∈ℝ: x²≥0 ⇒ √x ∑∫∂ ≠ ≤ ≥ ∞ − ∓');
add('symbols-currency-fullwidth', '＄100 ￥500 ＜tag＞ ｀x｀ ～');
add('apostrophes', "don't don’t l'homme rock 'n' roll");
add('repeated-punct', '!!!??? ... --- *** ###');
add('hash-continuation-literal', '##ing ## #hashtag word##');

// ---------------------------------------------------------------- numbers, URLs, code
add('numbers', '3.14159 1,234,567.89 3.14e-10 0x1F 10% -42 +7 007');
add('numbers-fullwidth-superscript', '１２３ ²³ ½ ¾ ⅓ ①②');
add('date-time-phone', '2024-06-11T12:34:56Z, +1 (555) 123-4567, 12/31/1999');
add('url', 'Visit https://www.example.com/path/to/page?query=1&lang=en#section for details.');
add('email', 'Contact john.doe+tag@example.co.uk or admin@localhost.');
add('code-c', 'for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }');
add('code-html', '<div class="main"><p>Hello, <b>world</b>!</p></div>');
add('code-json', '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}');
add('code-shell', 'cat ~/.bashrc | grep -E \'^export\' && echo $? > /dev/null 2>&1');
add('code-regex', '^(?:[a-z0-9!#$%&\'*+/=?^_`{|}~-]+)@\\w+\\.\\w{2,}$');
add('path-windows', 'C:\\Program Files\\App\\bin\\app.exe');
add('mixed-everything', 'Ünïcödé 日本 🥰 [MASK] \u00a0x\u200by https://a.b/c?d=é 100€ ΣΑΣ İı ß');

// ---------------------------------------------------------------- mixed scripts and RTL
add('rtl-ltr-mixed', 'Hello שלום world مرحبا 123');
add('mixed-scripts-sentence', 'English, Русский, Ελληνικά, 日本語, 한국어, العربية, हिन्दी, ไทย.');

// ---------------------------------------------------------------- pairs
add('pair-simple', 'How old are you?', 'I am six years old.');
add('pair-empty-second', 'hello world', '');
add('pair-empty-first', '', 'hello world');
add('pair-both-empty', '', '');
add('pair-whitespace-second', 'text', '   \t\n');
add('pair-control-only-first', '\u0000\u0001\u200b', 'visible');
add('pair-mixed-scripts', 'Ceci est une phrase française.', 'これは日本語の文です。');
add('pair-cyrillic-arabic', 'Привет, мир!', 'مرحبا بالعالم');
add('pair-emoji', '🥰🥰', 'love you 😀');
add('pair-long-short', rep('The quick brown fox jumps over the lazy dog. ', 12).trim(), 'Short.');
add('pair-short-long', 'Short.', rep('Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. ', 8).trim());
add('pair-both-long', rep('alpha beta gamma delta ', 20).trim(), rep('один два три четыре ', 20).trim());
add('pair-accents-case', 'ÉCOLE Über', 'école über');
add('pair-long-words', rep(abc10, 10) + ' ' + rep(abc10, 10) + 'x', rep('é', 101));

// ---------------------------------------------------------------- long inputs (for truncation / stride)
add('long-sentence-repeated', rep('This sentence is repeated to make a long input. ', 40).trim());
add('long-cjk', rep('自然语言处理是人工智能的一个重要方向。', 20));
add('long-single-char-words', rep('a ', 300).trim());
add('long-punct-run', rep('!?', 200));

// ---------------------------------------------------------------- serialise
function escapeInvisible(json) {
  // JSON.stringify already escapes U+0000-U+001F; also escape other invisible / combining / space code points.
  return Array.from(json).map((c) => {
    const n = c.codePointAt(0);
    const invisible = c === '\ufffd' || /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zs}\p{Zl}\p{Zp}\p{Mn}\p{Me}]/u.test(c) && c !== ' ';
    if (!invisible) return c;
    if (n <= 0xffff) return '\\u' + n.toString(16).padStart(4, '0');
    const hi = 0xd800 + ((n - 0x10000) >> 10), lo = 0xdc00 + ((n - 0x10000) & 0x3ff);
    return '\\u' + hi.toString(16) + '\\u' + lo.toString(16);
  }).join('');
}
const ids = new Set();
for (const c of cases) {
  if (ids.has(c.id)) throw new Error('duplicate id ' + c.id);
  ids.add(c.id);
}
const lines = cases.map((c) => escapeInvisible(JSON.stringify(c)));
for (let i = 0; i < lines.length; i++) {
  const back = JSON.parse(lines[i]);
  if (back.text !== cases[i].text || back.text_pair !== cases[i].text_pair) throw new Error('round trip ' + cases[i].id);
}
fs.writeFileSync(OUT, lines.join('\n') + '\n');
process.stderr.write(`wrote ${OUT}: ${cases.length} records, ${cases.filter((c) => 'text_pair' in c).length} pairs\n`);
