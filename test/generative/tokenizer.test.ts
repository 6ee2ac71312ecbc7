import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer, bytesToUnicode, cleanText } from '../../src/generative/tokenizer.js';
import { tinyTokenizer } from '../support/onnx-builder.js';

const tiny = tinyTokenizer();
const tok = new ClipTokenizer(tiny.vocab, tiny.merges);

function body(ids: Int32Array): number[] {
  const end = ids.indexOf(49407);
  return Array.from(ids.subarray(0, end + 1));
}

test('byte map: printable ASCII maps to itself, space and controls to U+0100…', () => {
  const map = bytesToUnicode();
  assert.equal(map.length, 256);
  assert.equal(new Set(map).size, 256);
  assert.equal(map[0x61], 'a');
  assert.equal(map[0x20], '\u0120'); // GPT-2/CLIP's "Ġ" for space
  assert.equal(map[0], '\u0100');
});

test('text cleaning: whitespace collapsed, lower-cased, HTML entities unescaped', () => {
  assert.equal(cleanText('  A  Photo\n\tOF &amp; a CAT  '), 'a photo of & a cat');
  assert.equal(cleanText('caf\u0065\u0301'), 'café');
});

// Reference tokenizations produced by CLIP's own tokenizer (openai/clip-vit-large-patch14 vocabulary); the
// tiny vocabulary gives these words and all single bytes their real ids.
test('known CLIP tokenizations', () => {
  assert.deepEqual(body(tok.encode('a photo of a cat')), [49406, 320, 1125, 539, 320, 2368, 49407]);
  assert.deepEqual(body(tok.encode('a photo of a dog')), [49406, 320, 1125, 539, 320, 1929, 49407]);
  assert.deepEqual(body(tok.encode('A Photo of a TREE!')), [49406, 320, 1125, 539, 320, 2677, 256, 49407]);
  assert.deepEqual(
    body(tok.encode("it's a cat's toy, running   fast")),
    [49406, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, 49407],
  );
  assert.deepEqual(body(tok.encode('2 dogs and 3 cats')), [49406, 273, 3255, 537, 274, 3989, 49407]);
  assert.deepEqual(body(tok.encode('dog on a beach')), [49406, 1929, 525, 320, 2117, 49407]);
});

test('padding and truncation to 77 tokens', () => {
  const empty = tok.encode('');
  assert.equal(empty.length, 77);
  assert.deepEqual(Array.from(empty.subarray(0, 3)), [49406, 49407, 49407]);
  const long = tok.encode('cat '.repeat(100));
  assert.equal(long.length, 77);
  assert.equal(long[0], 49406);
  assert.equal(long[76], 49407);
  assert.ok(long.subarray(1, 76).every((id) => id === 2368));
  assert.equal(tok.truncated('cat '.repeat(75)), false);
  assert.equal(tok.truncated('cat '.repeat(76)), true);
});

test('merge ranks decide the split of a word not in the vocabulary', () => {
  // Hand-checked: "cats" has the chain c·a → ca·t → cat·s</w>. Without the last merge the word stops at
  // "cat" + "s</w>"; with "a t" ranked first, "c" + "at" cannot reach "ca" and stays split.
  const vocab: Record<string, number> = { ...tiny.vocab, at: 41000 };
  const noLast = new ClipTokenizer(vocab, tiny.merges.replace('cat s</w>\n', ''));
  const s = vocab['s</w>']!;
  const c = vocab['c']!;
  assert.deepEqual(body(noLast.encode('cats')), [49406, vocab['cat']!, s, 49407]);
  const atFirst = new ClipTokenizer(vocab, `#version: 0.2\na t\n${tiny.merges.split('\n').slice(1).join('\n')}`);
  assert.deepEqual(body(atFirst.encode('cats')), [49406, c, 41000, s, 49407]);
});

test('unknown characters are encoded byte by byte (UTF-8)', () => {
  const ids = body(tok.encode('é'));
  // é = C3 A9 → two byte tokens, the last one with </w>.
  const map = bytesToUnicode();
  assert.deepEqual(ids, [49406, tiny.vocab[map[0xc3]!]!, tiny.vocab[`${map[0xa9]!}</w>`]!, 49407]);
});

test('pad token from special_tokens_map (SD 2.x pads with "!")', () => {
  const bang = new ClipTokenizer(tiny.vocab, tiny.merges, { padToken: '!' });
  const ids = bang.encode('cat');
  assert.deepEqual(Array.from(ids.subarray(0, 5)), [49406, 2368, 49407, 0, 0]);
});
