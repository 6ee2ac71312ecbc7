// The model-set part of the `atelier models` command: what each named set serves, whether it is installed
// here, and `atelier models pull NAME`. Exported as functions so the `models list` command shows these rows
// next to the npm-packaged models.
import type { Command } from 'commander';
import { deviceChoice } from '../models/runtime/onnx.js';
import type { Capability } from './engine.js';
import { candidates, installedState, MODEL_SETS, type ModelSetSpec } from './model-sets.js';
import { modelSetDir } from './paths.js';
import { formatBytes, pullModelSet, PullError } from './pull.js';

export interface ModelSetListing {
  name: string;
  title: string;
  kind: ModelSetSpec['kind'];
  /** installed | partial (some capabilities) | missing | needs-cuda (installed or not, unusable here). */
  state: 'installed' | 'partial' | 'missing' | 'needs-cuda';
  /** What the files on disk serve now. */
  serves: Capability[];
  /** What the complete set serves. */
  capabilities: Capability[];
  bytes: number;
  dir: string;
  repo: string;
  licence: string;
  pullCommand: string;
  reason?: string;
}

export function listModelSets(env: NodeJS.ProcessEnv = process.env): ModelSetListing[] {
  const cpuOnly = deviceChoice(env) === 'cpu';
  return MODEL_SETS.map((spec) => {
    const st = installedState(spec.name, env);
    const complete = spec.capabilities.every((c) => st.capabilities.includes(c));
    let state: ModelSetListing['state'] = st.installed ? (complete ? 'installed' : 'partial') : 'missing';
    if (spec.requiresCuda && cpuOnly) state = 'needs-cuda';
    const reason = state === 'needs-cuda' ? 'needs ATELIER_DEVICE=cuda or auto with a CUDA GPU' : state === 'partial' ? st.missing : undefined;
    return {
      name: spec.name,
      title: spec.title,
      kind: spec.kind,
      state,
      serves: st.capabilities,
      capabilities: spec.capabilities,
      bytes: st.installed ? st.bytesOnDisk : spec.approxBytes,
      dir: modelSetDir(spec.name, env),
      repo: `${spec.hub.repo}@${spec.hub.revision}`,
      licence: spec.licence,
      pullCommand: `npm run atelier -- models pull ${spec.name}`,
      ...(reason ? { reason } : {}),
    };
  });
}

/** For each capability: the sets that would serve it (best first) and which one does now. */
export function capabilityTable(env: NodeJS.ProcessEnv = process.env): { capability: Capability; serving: string | null; candidates: string[] }[] {
  const listing = new Map(listModelSets(env).map((l) => [l.name, l]));
  return (['txt2img', 'img2img', 'inpaint', 'caption'] as Capability[]).map((capability) => {
    const list = candidates(capability);
    const serving = list.find((n) => {
      const l = listing.get(n);
      return l && l.state !== 'needs-cuda' && l.serves.includes(capability);
    });
    return { capability, serving: serving ?? null, candidates: list };
  });
}

/** Human-readable lines for `atelier models list`. */
export function modelSetLines(env: NodeJS.ProcessEnv = process.env): string[] {
  const lines: string[] = ['Model sets (diffusion and captioning, in ' + (listModelSets(env)[0]?.dir.replace(/[/\\][^/\\]+$/, '') ?? '') + '):'];
  for (const l of listModelSets(env)) {
    const size = l.state === 'missing' || l.state === 'needs-cuda' ? `~${formatBytes(l.bytes)}` : formatBytes(l.bytes);
    lines.push(`  ${l.name.padEnd(24)} ${l.state.padEnd(10)} ${size.padStart(10)}  ${l.capabilities.join(', ')}`);
    if (l.reason) lines.push(`  ${''.padEnd(24)} ${l.reason}`);
    if (l.state !== 'installed' && l.state !== 'needs-cuda') lines.push(`  ${''.padEnd(24)} install: ${l.pullCommand}`);
  }
  lines.push('Capabilities:');
  for (const row of capabilityTable(env)) {
    const needs = row.candidates.join(' or ');
    lines.push(`  ${row.capability.padEnd(8)} ${row.serving ? `served by ${row.serving}` : `not available; needs ${needs}`}`);
  }
  return lines;
}

/**
 * Adds `pull <name>` (and `list` when the command has none yet) to the `models` command, creating `models`
 * when no other module has.
 */
export function registerModelSetCommands(program: Command): void {
  let models = program.commands.find((c) => c.name() === 'models');
  if (!models) models = program.command('models').description('Model files: what is installed, what each capability needs.');
  if (!models.commands.some((c) => c.name() === 'list')) {
    models
      .command('list')
      .description('List model sets, their state here, and which capability each serves.')
      .option('--json', 'print JSON')
      .action((opts: { json?: boolean }) => {
        if (opts.json) console.log(JSON.stringify({ modelSets: listModelSets(), capabilities: capabilityTable() }));
        else console.log(modelSetLines().join('\n'));
      });
  }
  models
    .command('pull <name>')
    .description('Download a named model set from its public hub (resumable, checksummed) into the models directory.')
    .option('--force', 'download again even when installed')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { force?: boolean; json?: boolean }) => {
      const ac = new AbortController();
      const onSignal = (): void => ac.abort(new Error('interrupted; run the command again to resume'));
      process.once('SIGINT', onSignal);
      try {
        const r = await pullModelSet(name, { force: opts.force ?? false, signal: ac.signal });
        if (opts.json) console.log(JSON.stringify(r));
        else if (r.alreadyInstalled) console.log(`${name} is already installed in ${r.dir} (use --force to download again).`);
      } catch (err) {
        console.error(err instanceof PullError || err instanceof Error ? err.message : String(err));
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
