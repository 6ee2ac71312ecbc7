// Runs the `atelier` CLI against a server's data directory, as an operator would.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './server.js';

const run = promisify(execFile);

export async function cli(dataDir: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ATELIER_DATA_DIR: dataDir },
  });
}

export async function createKey(dataDir: string, scopes: string, credits?: number): Promise<{ id: string; token: string }> {
  const args = ['keys', 'create', '--name', `test-${scopes}`, '--scopes', scopes, '--json'];
  if (credits !== undefined) args.push('--credits', String(credits));
  const { stdout } = await cli(dataDir, ...args);
  return JSON.parse(stdout) as { id: string; token: string };
}
