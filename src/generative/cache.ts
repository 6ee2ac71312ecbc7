// Warm model sets: a diffusion pipeline loads on first use and stays loaded, up to ATELIER_GENERATIVE_MAX_LOADED
// sets (default 1: an SD 1.5 set holds 3–5 GB). Loading another evicts the least recently used one, but only
// once no request is running on it.
import { resolve } from 'node:path';
import type { DiffusionEngine, Preference } from './engine.js';
import { DiffusionPipeline, type PipelineHints } from './pipeline.js';
import { loadCaptionModel, type Captioner } from './caption.js';

interface Entry {
  key: string;
  loading: Promise<DiffusionPipeline>;
  active: number;
  lastUsed: number;
  evicted: boolean;
}

const engines = new Map<string, Entry>();
const captioners = new Map<string, Promise<Captioner>>();

function maxLoaded(): number {
  const n = Number(process.env.ATELIER_GENERATIVE_MAX_LOADED);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

async function releaseEntry(e: Entry): Promise<void> {
  try {
    await (await e.loading).release();
  } catch {
    // A set that failed to load has nothing to release.
  }
}

function evictIfNeeded(keep: string): void {
  const others = [...engines.values()].filter((e) => e.key !== keep && !e.evicted).sort((a, b) => a.lastUsed - b.lastUsed);
  let excess = others.length + 1 - maxLoaded();
  for (const e of others) {
    if (excess <= 0) break;
    e.evicted = true;
    engines.delete(e.key);
    if (e.active === 0) void releaseEntry(e);
    excess--;
  }
}

/** The warm engine of the model set in `dir` (its folder name is the set's name). */
export async function acquireEngine(name: string, dir: string, hints: PipelineHints): Promise<DiffusionEngine> {
  const key = resolve(dir);
  let entry = engines.get(key);
  if (!entry) {
    const loading = DiffusionPipeline.load(name, key, hints);
    entry = { key, loading, active: 0, lastUsed: Date.now(), evicted: false };
    engines.set(key, entry);
    loading.catch(() => engines.get(key) === entry && engines.delete(key));
    evictIfNeeded(key);
  }
  const e = entry;
  const pipeline = await e.loading;
  const track = async <T>(fn: () => Promise<T>): Promise<T> => {
    e.active++;
    e.lastUsed = Date.now();
    try {
      return await fn();
    } finally {
      e.active--;
      if (e.evicted && e.active === 0) void releaseEntry(e);
    }
  };
  return {
    modelSet: pipeline.modelSet,
    txt2img: (p, signal) => track(() => pipeline.txt2img(p, signal)),
    img2img: (p, signal) => track(() => pipeline.img2img(p, signal)),
    inpaint: (p, signal) => track(() => pipeline.inpaint(p, signal)),
    stepsFor: (preference: Preference) => pipeline.stepsFor(preference),
  };
}

export async function loadCaptioner(dir: string): Promise<Captioner> {
  const key = resolve(dir);
  let c = captioners.get(key);
  if (!c) {
    c = loadCaptionModel(key);
    captioners.set(key, c);
    c.catch(() => captioners.delete(key));
  }
  return c;
}

/** Releases every loaded model set (tests, shutdown). */
export async function releaseEngines(): Promise<void> {
  const all = [...engines.values()];
  engines.clear();
  const caps = [...captioners.values()];
  captioners.clear();
  await Promise.all([
    ...all.map((e) => releaseEntry(e)),
    ...caps.map(async (c) => {
      try {
        await (await c).release();
      } catch {
        // failed loads hold nothing
      }
    }),
  ]);
}
