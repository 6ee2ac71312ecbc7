// The image-edit service: input in (URL, storage:// or upload), pipeline, output stored (in the temporary
// store, or at a storage:// destination), answer shaped. Used by the sync, upload and async endpoints alike,
// so all three produce the same result for the same request. Storages are looked up per owner (the API key
// id), so every method that may touch one takes it.
import type {
  EditResponse,
  ImageOperations,
  ImageOutputOptions,
  OutputImageObject,
} from '../contract/types.js';
import { StorageError } from '../errors.js';
import { checkEditRequest, runEdit, type PipelineLimits } from '../pipeline/index.js';
import { parseInputUrl, type InputFetcher } from '../storage/fetch.js';
import type { StorageService } from '../storage/service.js';
import { withExtension, type TmpStore } from '../storage/tmp-store.js';
import { isStorageUri } from '../storage/uri.js';

export interface InputFile {
  data: Buffer;
  /** Name the output keeps (with the output format's extension). */
  name: string;
}

export interface EditServiceDeps {
  fetcher: InputFetcher;
  tmp: TmpStore;
  /** Resolves storage:// inputs and destinations. */
  storages: StorageService;
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

  /**
   * Refuses what cannot be done before any byte is fetched or decoded: invalid operations, a destination
   * that is not a storage:// URI, or that names an unknown or read-only storage of `owner`, and a storage://
   * `input` that names a folder or an unknown storage.
   */
  precheck(owner: string, operations: ImageOperations, output: ImageOutputOptions, input?: string): void {
    checkEditRequest(operations, output);
    this.checkDestination(owner, output);
    if (input !== undefined && isStorageUri(input)) this.deps.storages.checkSource(owner, input, 'input');
  }

  private checkDestination(owner: string, output: ImageOutputOptions): void {
    const destination = output.destination;
    if (destination === undefined) return;
    if (!isStorageUri(destination)) {
      throw new StorageError(
        'unsupported_destination',
        'output.destination: outputs can be written to storages only: use storage://<storage name>/<path> ' +
          '(a path ending in "/" keeps the input\'s file name), or omit it to get a tmp_url.',
        { field: 'output.destination' },
      );
    }
    this.deps.storages.checkDestination(owner, destination, 'output.destination');
  }

  async fetchInput(owner: string, input: string, signal?: AbortSignal): Promise<InputFile> {
    if (isStorageUri(input)) return this.deps.storages.readObject(owner, input, { signal, field: 'input' });
    const url = parseInputUrl(input);
    const file = await this.deps.fetcher.fetch(url, signal);
    return { data: file.data, name: file.name };
  }

  /**
   * Runs the edit and stores the output: at `output.destination` in one of `owner`'s storages, or in the
   * temporary store. Either way the output's name depends only on the request (and `stableId`, a task id,
   * for the temporary store), so a task re-run after a crash overwrites its own output instead of adding one.
   */
  async edit(
    owner: string,
    input: InputFile,
    operations: ImageOperations,
    output: ImageOutputOptions,
    opts: { signal?: AbortSignal; stableId?: string } = {},
  ): Promise<EditResponse> {
    this.checkDestination(owner, output);
    const result = await runEdit({
      input: input.data,
      operations,
      output,
      limits: this.deps.limits,
      signal: opts.signal,
    });
    const started = performance.now();
    let out: OutputImageObject;
    if (output.destination !== undefined) {
      const location = await this.deps.storages.writeOutput(
        owner,
        output.destination,
        { inputName: input.name, ext: result.output.ext, mime: result.output.mime, data: result.data },
        { signal: opts.signal, field: 'output.destination' },
      );
      out = { ...result.output, ...location };
    } else {
      const stored = await this.deps.tmp.put(withExtension(input.name, result.output.ext), result.data, opts.stableId);
      out = {
        ...result.output,
        tmp_url: `${this.deps.publicUrl}/tmp/${stored.token}/${encodeURIComponent(stored.name)}`,
      };
    }
    const profiling = { ...result.profiling, store_ms: Math.round(performance.now() - started) };
    return { input: result.input, output: out, profiling };
  }
}
