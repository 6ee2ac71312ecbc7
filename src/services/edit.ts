// The image-edit service: input in (URL or upload), pipeline, output stored, answer shaped. Used by the
// sync, upload and async endpoints alike, so all three produce the same result for the same request.
import type {
  EditResponse,
  ImageOperations,
  ImageOutputOptions,
  OutputImageObject,
} from '../contract/types.js';
import { StorageError } from '../errors.js';
import { checkEditRequest, runEdit, type PipelineLimits } from '../pipeline/index.js';
import { parseInputUrl, type InputFetcher } from '../storage/fetch.js';
import { withExtension, type TmpStore } from '../storage/tmp-store.js';

export interface InputFile {
  data: Buffer;
  /** Name the output keeps (with the output format's extension). */
  name: string;
}

export interface EditServiceDeps {
  fetcher: InputFetcher;
  tmp: TmpStore;
  limits: PipelineLimits;
  /** Base for `tmp_url`, without trailing slash. */
  publicUrl: string;
}

/** A bare-string `output` is a destination; an absent one means the defaults. */
export function normaliseOutput(output: ImageOutputOptions | string | undefined): ImageOutputOptions {
  if (output === undefined) return {};
  if (typeof output === 'string') return { destination: output };
  return output;
}

export class EditService {
  constructor(private readonly deps: EditServiceDeps) {}

  /** Refuses what cannot be done before any byte is fetched or decoded. */
  precheck(operations: ImageOperations, output: ImageOutputOptions): void {
    checkEditRequest(operations, output);
    this.assertDestinationSupported(output);
  }

  private assertDestinationSupported(output: ImageOutputOptions): void {
    if (output.destination !== undefined) {
      throw new StorageError(
        'destination_not_available',
        'output.destination: writing to storages is not available yet in this Atelier build; omit it to get a tmp_url.',
        { field: 'output.destination' },
      );
    }
  }

  async fetchInput(input: string, signal?: AbortSignal): Promise<InputFile> {
    const url = parseInputUrl(input);
    if (url.protocol === 'storage:') {
      throw new StorageError(
        'storage_not_available',
        'input: storage:// inputs are not available yet in this Atelier build; use an http(s) URL or the upload endpoint.',
        { field: 'input' },
      );
    }
    const file = await this.deps.fetcher.fetch(url, signal);
    return { data: file.data, name: file.name };
  }

  /**
   * Runs the edit and stores the output in the temporary store. `stableId` (a task id) makes the output's
   * URL deterministic, so a task re-run after a crash overwrites its own output instead of adding another.
   */
  async edit(
    input: InputFile,
    operations: ImageOperations,
    output: ImageOutputOptions,
    opts: { signal?: AbortSignal; stableId?: string } = {},
  ): Promise<EditResponse> {
    this.assertDestinationSupported(output);
    const result = await runEdit({
      input: input.data,
      operations,
      output,
      limits: this.deps.limits,
      signal: opts.signal,
    });
    const started = performance.now();
    const stored = await this.deps.tmp.put(withExtension(input.name, result.output.ext), result.data, opts.stableId);
    const out: OutputImageObject = {
      ...result.output,
      tmp_url: `${this.deps.publicUrl}/tmp/${stored.token}/${encodeURIComponent(stored.name)}`,
    };
    const profiling = { ...result.profiling, store_ms: Math.round(performance.now() - started) };
    return { input: result.input, output: out, profiling };
  }
}
