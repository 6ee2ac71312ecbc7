// The image-edit service: input in (URL, storage:// or upload), pipeline, output stored (in the temporary
// store, or at a storage:// destination), answer shaped. Used by the sync, upload and async endpoints alike,
// so all three produce the same result for the same request. Storages are looked up per owner (the API key
// id), so every method that may touch one takes it.
import type {
  EditResponse,
  ImageObject,
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
  /** Present when `data` is borrowed from the fetcher's pool: call once the edit is done with it. */
  release?: () => void;
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
    const style = operations.generative?.style_transfer?.style_reference_image;
    if (style !== undefined && isStorageUri(style)) {
      this.deps.storages.checkSource(owner, style, 'operations.generative.style_transfer.style_reference_image');
    }
  }

  /** Refuses a destination that is not a storage:// URI, or names an unknown or read-only storage of `owner`. */
  checkDestination(owner: string, output: { destination?: string }): void {
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

  /**
   * Reads an input (URL or storage://). With `pooled`, a fetched body may be borrowed memory: the caller must
   * then call the result's `release` once nothing reads `data` any more (see `withInput`).
   */
  async fetchInput(owner: string, input: string, signal?: AbortSignal, field = 'input', opts: { pooled?: boolean } = {}): Promise<InputFile> {
    if (isStorageUri(input)) return this.deps.storages.readObject(owner, input, { signal, field });
    const url = parseInputUrl(input, field);
    const file = await this.deps.fetcher.fetch(url, signal, field, { pooled: opts.pooled });
    return { data: file.data, name: file.name, release: file.release };
  }

  /** Fetches `input` into pooled memory, runs `use` on it, and gives the memory back however `use` ends. */
  async withInput<T>(owner: string, input: string, signal: AbortSignal | undefined, use: (file: InputFile) => Promise<T>): Promise<T> {
    const file = await this.fetchInput(owner, input, signal, 'input', { pooled: true });
    try {
      return await use(file);
    } finally {
      file.release?.();
    }
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
    const styleUrl = operations.generative?.style_transfer?.style_reference_image;
    const styleReference = styleUrl
      ? (await this.fetchInput(owner, styleUrl, opts.signal, 'operations.generative.style_transfer.style_reference_image')).data
      : undefined;
    const result = await runEdit({
      input: input.data,
      operations,
      output,
      limits: this.deps.limits,
      signal: opts.signal,
      styleReference,
    });
    const started = performance.now();
    const out = await this.storeOutput(owner, output.destination, input.name, result.data, result.output, opts);
    const profiling = { ...result.profiling, store_ms: Math.round(performance.now() - started) };
    return { input: result.input, output: out, profiling };
  }

  /**
   * Stores one encoded output: at `destination` in one of `owner`'s storages (a folder destination names the
   * file after `name`), or in the temporary store as `name` with the output's extension. Answers the output's
   * description with its location (`tmp_url`, or the storage's object fields).
   */
  async storeOutput(
    owner: string,
    destination: string | undefined,
    name: string,
    data: Buffer,
    info: ImageObject,
    opts: { signal?: AbortSignal; stableId?: string } = {},
  ): Promise<OutputImageObject> {
    if (destination !== undefined) {
      const location = await this.deps.storages.writeOutput(
        owner,
        destination,
        { inputName: name, ext: info.ext, mime: info.mime, data },
        { signal: opts.signal, field: 'output.destination' },
      );
      return { ...info, ...location };
    }
    const stored = await this.deps.tmp.put(withExtension(name, info.ext), data, opts.stableId);
    return { ...info, tmp_url: `${this.deps.publicUrl}/tmp/${stored.token}/${encodeURIComponent(stored.name)}` };
  }
}
