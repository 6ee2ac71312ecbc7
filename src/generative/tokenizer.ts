// CLIP's byte-level BPE tokenizer (as openai/CLIP's SimpleTokenizer and transformers' CLIPTokenizer do it):
// clean and lower-case the text, split it with CLIP's pattern, map each piece's UTF-8 bytes to printable
// characters, mark the end of a word with `</w>`, merge pairs by rank, then wrap in start/end tokens and
// pad or truncate to the text encoder's context length (77).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const CLIP_CONTEXT_LENGTH = 77;
const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';
/** CLIP uses the first 49152 − 256 − 2 merges of its merges.txt (the rest were never trained). */
const CLIP_MAX_MERGES = 49152 - 256 - 2;

const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** GPT-2's reversible map from bytes to printable unicode characters (so BPE never sees whitespace/control). */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function htmlUnescape(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/** CLIP's basic_clean + whitespace_clean + lower-casing (NFC stands in for ftfy's normalisation). */
export function cleanText(text: string): string {
  return htmlUnescape(htmlUnescape(text.normalize('NFC'))).replace(/\s+/gu, ' ').trim().toLowerCase();
}

export interface ClipTokenizerOptions {
  /** Token padding the sequence; CLIP pads with `<|endoftext|>`, SD 2.x tokenizers with `!`. */
  padToken?: string;
  contextLength?: number;
}

export class ClipTokenizer {
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly byteChars = bytesToUnicode();
  private readonly cache = new Map<string, string[]>();
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly contextLength: number;

  constructor(vocab: Record<string, number>, merges: string, opts: ClipTokenizerOptions = {}) {
    this.vocab = new Map(Object.entries(vocab));
    this.ranks = new Map();
    const lines = merges.split('\n').filter((l) => l.length > 0 && !l.startsWith('#version'));
    lines.slice(0, CLIP_MAX_MERGES).forEach((line, rank) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length === 2) this.ranks.set(`${parts[0]} ${parts[1]}`, rank);
    });
    const id = (token: string): number => {
      const v = this.vocab.get(token);
      if (v === undefined) throw new Error(`tokenizer vocabulary has no ${token}`);
      return v;
    };
    this.bosId = id(BOS);
    this.eosId = id(EOS);
    this.padId = id(opts.padToken ?? EOS);
    this.contextLength = opts.contextLength ?? CLIP_CONTEXT_LENGTH;
  }

  /** Loads `vocab.json` + `merges.txt` (+ the pad token from `special_tokens_map.json`) from a folder. */
  static fromFolder(dir: string): ClipTokenizer {
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = readFileSync(join(dir, 'merges.txt'), 'utf8');
    let padToken: string | undefined;
    for (const file of ['special_tokens_map.json', 'tokenizer_config.json']) {
      const path = join(dir, file);
      if (padToken || !existsSync(path)) continue;
      const pad = (JSON.parse(readFileSync(path, 'utf8')) as { pad_token?: unknown }).pad_token;
      if (typeof pad === 'string') padToken = pad;
      else if (pad && typeof pad === 'object' && typeof (pad as { content?: unknown }).content === 'string') {
        padToken = (pad as { content: string }).content;
      }
    }
    return new ClipTokenizer(vocab, merges, padToken && vocab[padToken] !== undefined ? { padToken } : {});
  }

  /** BPE of one pre-tokenised piece (already byte-mapped), as a list of vocabulary tokens. */
  bpe(piece: string): string[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const chars = Array.from(piece);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1] ?? ''}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best] as string;
      const second = word[best + 1] as string;
      // Merge every occurrence of the pair, left to right, as the reference implementation does.
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && word[i + 1] === second && i < word.length - 1) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i] as string);
          i += 1;
        }
      }
      word = merged;
    }
    if (this.cache.size < 10_000) this.cache.set(piece, word);
    return word;
  }

  /** Token ids of the text without start/end tokens or padding. */
  encodeRaw(text: string): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(PATTERN)) {
      const piece = match[0];
      const special = this.vocab.get(piece);
      if (piece === BOS || piece === EOS) {
        if (special !== undefined) ids.push(special);
        continue;
      }
      const mapped = Array.from(Buffer.from(piece, 'utf8'), (b) => this.byteChars[b] as string).join('');
      for (const token of this.bpe(mapped)) ids.push(this.vocab.get(token) ?? this.eosId);
    }
    return ids;
  }

  /** `<|startoftext|>` + tokens (truncated) + `<|endoftext|>`, padded to the context length. */
  encode(text: string): Int32Array {
    const body = this.encodeRaw(text).slice(0, this.contextLength - 2);
    const out = new Int32Array(this.contextLength).fill(this.padId);
    out[0] = this.bosId;
    out.set(body, 1);
    out[body.length + 1] = this.eosId;
    return out;
  }

  /** Whether the prompt had to be cut to fit the context (callers may warn). */
  truncated(text: string): boolean {
    return this.encodeRaw(text).length > this.contextLength - 2;
  }
}
