#!/usr/bin/env node
// The `atelier` command: administration of a local installation (API keys now; webhooks, storages and
// models as they arrive). It works on the same data directory as the server (ATELIER_DATA_DIR).
import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/sqlite.js';
import { KeyStore, SCOPES, isScope, type Scope } from '../accounts/keys.js';
import { registerWebhookCommands } from './webhooks.js';
import { registerModelSetCommands } from '../generative/models-cli.js';
import { registerModelCommands } from './models.js';

function openKeys(): { keys: KeyStore; close: () => void } {
  const config = loadConfig();
  const db = openDatabase(join(config.dataDir, 'atelier.db'));
  return { keys: new KeyStore(db), close: () => db.close() };
}

function parseScopes(value: string): Scope[] {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = scopes.filter((s) => !isScope(s));
  if (bad.length > 0 || scopes.length === 0) {
    throw new InvalidArgumentError(`unknown scope(s) ${bad.join(', ')}; known: ${SCOPES.join(', ')}`);
  }
  return scopes as Scope[];
}

function parseCredits(value: string): number | null {
  if (value === 'unlimited') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('credits must be a non-negative integer or "unlimited"');
  return n;
}

export function buildCli(): Command {
  const program = new Command('atelier').description('Administer an Atelier installation.');
  const keysCmd = program.command('keys').description('Manage API keys.');

  keysCmd
    .command('create')
    .description('Create an API key and print its token (shown only once).')
    .requiredOption('--name <name>', 'a label for the key')
    .option('--scopes <list>', `comma-separated scopes (${SCOPES.join(', ')})`, parseScopes, [...SCOPES] as Scope[])
    .option('--credits <n>', 'credit balance, or "unlimited"', parseCredits, null)
    .option('--json', 'print JSON')
    .action((opts: { name: string; scopes: Scope[]; credits: number | null; json?: boolean }) => {
      const { keys, close } = openKeys();
      const { key, token } = keys.create(opts.name, opts.scopes, opts.credits);
      close();
      if (opts.json) console.log(JSON.stringify({ ...key, token }));
      else console.log(`Created key ${key.id} (${key.name}) with scopes ${key.scopes.join(', ')}.\nToken: ${token}`);
    });

  keysCmd
    .command('list')
    .description('List API keys (tokens are never shown).')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const { keys, close } = openKeys();
      const all = keys.list();
      close();
      if (opts.json) return console.log(JSON.stringify(all));
      if (all.length === 0) return console.log('No keys.');
      for (const k of all) {
        const credits = k.credits === null ? 'unlimited' : String(k.credits);
        const state = k.revoked_at ? `revoked ${k.revoked_at}` : 'active';
        console.log(`${k.id}  ${k.name}  scopes=${k.scopes.join(',')}  credits=${credits}  ${state}`);
      }
    });

  keysCmd
    .command('revoke <id>')
    .description('Revoke an API key; requests with it get 401 from then on.')
    .action((id: string) => {
      const { keys, close } = openKeys();
      const ok = keys.revoke(id);
      close();
      if (!ok) {
        console.error(`No active key with id ${id}.`);
        process.exitCode = 1;
      } else console.log(`Revoked ${id}.`);
    });

  keysCmd
    .command('credits <id> <credits>')
    .description('Set the credit balance of a key (a number, or "unlimited").')
    .action((id: string, credits: string) => {
      const value = parseCredits(credits);
      const { keys, close } = openKeys();
      const ok = keys.setCredits(id, value);
      close();
      if (!ok) {
        console.error(`No key with id ${id}.`);
        process.exitCode = 1;
      } else console.log(`Key ${id} now has ${value === null ? 'unlimited' : value} credits.`);
    });
  registerWebhookCommands(program);
  // Last: adds `pull` to a `models` command registered before it (creating `models list` when none is).
  registerModelCommands(program);
  registerModelSetCommands(program);
  return program;
}

buildCli().parseAsync(process.argv).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
