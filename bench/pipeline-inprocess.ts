// Diagnostic: Atelier's own pipeline (runEdit: probe, plan, one libvips pass, encode) called in this process
// on the same bytes, with no HTTP, fetch or file write. Placed between the sharp baseline and the HTTP
// numbers, it splits a gap into "the pipeline does more than sharp" and "the server around it costs".
import type { Contender } from './lib/system.js';

export async function runEditContender(input: Buffer, width: number): Promise<Contender> {
  // Imported lazily so that the rest of the bench does not depend on the pipeline's modules at load time.
  const { runEdit, DEFAULT_LIMITS } = await import('../src/pipeline/index.js');
  return {
    name: "Atelier's pipeline in-process",
    pid: process.pid,
    op: async () => {
      // A fresh copy, like a fetched body (see sharp-baseline.ts).
      const result = await runEdit({
        input: Buffer.from(input),
        operations: { resizing: { width } },
        output: {},
        limits: DEFAULT_LIMITS,
      });
      return result.output.width === width ? { ok: true } : { ok: false, reason: `output is ${result.output.width} px wide` };
    },
  };
}
