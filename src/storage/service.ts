// The storage service: the registry behind /v1/storage/storages, and `storage://name/path` resolution for
// everything that reads inputs or writes outputs (edits, async tasks, batches, templates). Storages are
// looked up per owner (the API key id), so one key can neither see nor use another's storages.
import {
  ATELIER_STORAGE_TYPES,
  atelierStorageParametersSchemas,
  atelierStorageParametersUpdateSchemas,
  type AtelierStorageType,
  type StorageCreateRequest,
  type StorageUpdateRequest,
} from '../contract/storage-schemas.js';
import { compile } from '../contract/validation.js';
import { NotFoundError, StorageError, ValidationError } from '../errors.js';
import type { Db } from '../db/sqlite.js';
import type { StorageConfig } from './config.js';
import { gcsConnector } from './connectors/gcs.js';
import { LocalConnector, resolveLocalFolder } from './connectors/local.js';
import { S3Connector } from './connectors/s3.js';
import type { StorageConnector } from './connectors/types.js';
import { WebFolderConnector, type UrlFetcher } from './connectors/web-folder.js';
import { UnsealError, type SecretBox } from './secrets.js';
import { DuplicateStorageNameError, StorageRegistry, type NewStorage, type StorageRecord } from './storages.js';
import {
  destinationSegments,
  folderKey,
  formatStorageUri,
  joinKey,
  parseStorageUri,
  pathSegments,
  type StorageUri,
} from './uri.js';
import { isAbsolute, resolve } from 'node:path';

// ---------------------------------------------------------------------------------------------------------
// Answers (the published StorageOut_Pydantic and StorageOutDetailed_Pydantic)

export interface StorageOut {
  id: number;
  name: string;
  type: AtelierStorageType;
  parameters: Record<string, unknown>;
  created_at: string;
}

/** Where an output was written, as the published PipelineOutputObject names it. */
export interface OutputLocation {
  object_uri: string;
  object_key: string;
  object_bucket?: string;
  claid_storage_uri: string;
}

/** One file of a listed folder. */
export interface ListedObject {
  /** `storage://name/path/to/file.png`, usable as an input. */
  uri: string;
  /** Path inside the storage (`path/to/file.png`). */
  path: string;
  /** Path inside the listed folder (`to/file.png` when `storage://name/path/` was listed). */
  relative: string;
}

export interface ResolvedObject {
  storage: StorageRecord;
  uri: StorageUri;
  /** The object key inside the bucket or folder (the storage's `path` prefix applied). */
  key: string;
}

export interface StorageServiceDeps {
  db: Db;
  secrets: SecretBox;
  fetcher: UrlFetcher;
  config: StorageConfig;
  /** Largest object read as an input (ATELIER_MAX_INPUT_BYTES). */
  maxReadBytes: number;
}

type Family = 'bucket' | 'web_folder' | 'local';

function family(type: AtelierStorageType): Family {
  return type === 's3' || type === 'gcs' ? 'bucket' : type;
}

const validateFull = Object.fromEntries(
  ATELIER_STORAGE_TYPES.map((t) => [t, compile<Record<string, unknown>>(atelierStorageParametersSchemas[t], 'body', ['parameters'])]),
) as Record<AtelierStorageType, (value: unknown) => Record<string, unknown>>;

const validateUpdate = Object.fromEntries(
  ATELIER_STORAGE_TYPES.map((t) => [
    t,
    compile<Record<string, unknown>>(atelierStorageParametersUpdateSchemas[t], 'body', ['parameters']),
  ]),
) as Record<AtelierStorageType, (value: unknown) => Record<string, unknown>>;

interface BucketParameters {
  path?: string;
  bucket: string;
  credentials: { access_key: string; secret_access_key?: string };
}

/** How many connectors (S3 clients with their connection pools) are kept open at once. */
const CONNECTOR_CACHE_SIZE = 64;

export class StorageService {
  readonly registry: StorageRegistry;
  private readonly connectors = new Map<number, { version: number; connector: StorageConnector }>();

  constructor(private readonly deps: StorageServiceDeps) {
    this.registry = new StorageRegistry(deps.db);
  }

  types(): readonly AtelierStorageType[] {
    return ATELIER_STORAGE_TYPES;
  }

  // -------------------------------------------------------------------------------------------------------
  // Registry

  list(owner: string): StorageOut[] {
    return this.registry.list(owner).map((r) => this.view(r, false));
  }

  get(owner: string, id: number): StorageOut {
    return this.view(this.mustGet(owner, id), true);
  }

  async create(owner: string, body: StorageCreateRequest): Promise<StorageOut> {
    const parameters = validateFull[body.type](body.parameters);
    const prepared = await this.prepare(owner, body.name, body.type, parameters, null);
    return this.view(this.withNameCheck(() => this.registry.create(owner, prepared)), true);
  }

  /**
   * PATCH: absent fields keep their value. Parameters merge into the current ones (credentials too, so a new
   * secret alone can be sent) while the type stays in the same family (s3 and gcs share their parameters);
   * a change to another family replaces them, and they must then be complete.
   */
  async update(owner: string, id: number, body: StorageUpdateRequest): Promise<StorageOut> {
    const current = this.mustGet(owner, id);
    const type = body.type ?? current.type;
    const sameFamily = family(type) === family(current.type);
    let parameters: Record<string, unknown>;
    let keptSecret: string | null = null;
    if (!sameFamily) {
      if (body.parameters === undefined) {
        throw new ValidationError(`parameters: changing the type to ${type} needs the parameters of a ${type} storage.`, {
          field: 'parameters',
        });
      }
      parameters = validateFull[type](body.parameters);
    } else {
      const patch = body.parameters === undefined ? {} : validateUpdate[type](body.parameters);
      if (family(type) === 'bucket') {
        const cur = current.parameters as unknown as BucketParameters;
        const given = patch as Partial<BucketParameters>;
        const secret = given.credentials?.secret_access_key;
        if (secret === undefined) keptSecret = current.sealedSecret;
        parameters = {
          path: given.path ?? cur.path ?? '',
          bucket: given.bucket ?? cur.bucket,
          credentials: {
            access_key: given.credentials?.access_key ?? cur.credentials.access_key,
            // Only to satisfy the full schema below; the kept secret stays sealed and is never opened here.
            secret_access_key: secret ?? 'kept',
          },
        };
      } else {
        parameters = { ...current.parameters, ...patch };
      }
      parameters = validateFull[type](parameters);
    }
    const prepared = await this.prepare(owner, body.name ?? current.name, type, parameters, keptSecret);
    const updated = this.withNameCheck(() => this.registry.replace(owner, id, prepared));
    if (!updated) throw this.notFound(id);
    this.forget(id);
    return this.view(updated, true);
  }

  /** Disconnects a storage (the bucket or folder itself is left alone) and answers what it was. */
  delete(owner: string, id: number): StorageOut {
    const removed = this.registry.delete(owner, id);
    if (!removed) throw this.notFound(id);
    this.forget(id);
    return this.view(removed, false);
  }

  private mustGet(owner: string, id: number): StorageRecord {
    const record = this.registry.get(owner, id);
    if (!record) throw this.notFound(id);
    return record;
  }

  private notFound(id: number): NotFoundError {
    return new NotFoundError('Storage not found.', { storage_id: id }, 'storage_not_found');
  }

  private withNameCheck<T>(write: () => T): T {
    try {
      return write();
    } catch (err) {
      if (err instanceof DuplicateStorageNameError) {
        throw new ValidationError(
          `name: a storage named "${err.storageName}" already exists.`,
          { field: 'name' },
          'storage_name_taken',
        );
      }
      throw err;
    }
  }

  /** Checks what the schemas cannot and builds the row: public parameters, secret sealed. */
  private async prepare(
    owner: string,
    name: string,
    type: AtelierStorageType,
    parameters: Record<string, unknown>,
    keptSecret: string | null,
  ): Promise<NewStorage> {
    switch (family(type)) {
      case 'bucket': {
        const p = parameters as unknown as BucketParameters;
        checkPrefix(p.path ?? '');
        const secret = p.credentials.secret_access_key;
        return {
          name,
          type,
          parameters: { path: p.path ?? '', bucket: p.bucket, credentials: { access_key: p.credentials.access_key } },
          sealedSecret: keptSecret ?? this.deps.secrets.seal(secret!, secretContext(owner)),
        };
      }
      case 'web_folder': {
        const base = parameters.base_url as string;
        let url: URL | undefined;
        try {
          url = new URL(base);
        } catch {
          url = undefined;
        }
        if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
          throw new ValidationError('parameters.base_url: must be an http or https URL.', { field: 'parameters.base_url' });
        }
        return { name, type, parameters, sealedSecret: null };
      }
      case 'local': {
        const path = parameters.path as string;
        await resolveLocalFolder(this.deps.config.localRoot, path, [this.deps.config.dataDir]);
        return { name, type, parameters: { path }, sealedSecret: null };
      }
    }
  }

  private view(record: StorageRecord, detailed: boolean): StorageOut {
    let parameters = record.parameters;
    if (family(record.type) === 'bucket') {
      const p = record.parameters as unknown as BucketParameters;
      parameters = { path: p.path ?? '', bucket: p.bucket };
      if (detailed) parameters.credentials = { access_key: p.credentials.access_key };
    }
    return { id: record.id, name: record.name, type: record.type, parameters, created_at: record.created_at };
  }

  // -------------------------------------------------------------------------------------------------------
  // storage:// addresses

  /** The storage a URI names, and the object key it points at. */
  resolve(owner: string, uri: string | StorageUri, field = 'input'): ResolvedObject {
    const parsed = typeof uri === 'string' ? parseStorageUri(uri, field) : uri;
    const storage = this.registry.getByName(owner, parsed.name);
    if (!storage) {
      throw new StorageError('storage_not_found', `${field}: there is no storage named "${parsed.name}".`, {
        field,
        storage: parsed.name,
      });
    }
    return { storage, uri: parsed, key: joinKey(keyPrefix(storage), parsed.segments) };
  }

  /** Refuses, before any work, a source that names a folder or an unknown storage. */
  checkSource(owner: string, uri: string, field = 'input'): void {
    const { uri: parsed } = this.resolve(owner, uri, field);
    if (parsed.folder) throw namesFolder(uri, field);
  }

  /** Refuses, before any work, a destination in an unknown or read-only storage. */
  checkDestination(owner: string, destination: string, field = 'output.destination'): void {
    const { storage } = this.resolve(owner, destination, field);
    if (storage.type === 'web_folder') {
      throw new StorageError(
        'storage_read_only',
        `${field}: storage "${storage.name}" is a web_folder storage; web_folder storages are read-only.`,
        { field, storage: storage.name },
      );
    }
  }

  async readObject(
    owner: string,
    uri: string,
    opts: { signal?: AbortSignal; field?: string } = {},
  ): Promise<{ data: Buffer; name: string }> {
    const field = opts.field ?? 'input';
    const { storage, uri: parsed, key } = this.resolve(owner, uri, field);
    if (parsed.folder) throw namesFolder(uri, field);
    return this.connector(storage).read(key, { signal: opts.signal, maxBytes: this.deps.maxReadBytes, field });
  }

  /** Writes `data` exactly at the file the URI names. */
  async writeObject(
    owner: string,
    uri: string,
    data: Buffer,
    contentType: string,
    opts: { signal?: AbortSignal; field?: string } = {},
  ): Promise<OutputLocation> {
    const field = opts.field ?? 'output.destination';
    const { storage, uri: parsed } = this.resolve(owner, uri, field);
    if (parsed.folder) throw namesFolder(uri, field);
    return this.writeAt(storage, parsed.segments, data, contentType, opts.signal, field);
  }

  /**
   * Writes an output to its destination: a folder (`storage://name/out/`) keeps the input's file name, a file
   * name gets the output format's extension. The key depends only on the request, so a task that runs
   * again writes the same object.
   */
  async writeOutput(
    owner: string,
    destination: string,
    output: { inputName: string; ext: string; mime: string; data: Buffer },
    opts: { signal?: AbortSignal; field?: string } = {},
  ): Promise<OutputLocation> {
    const field = opts.field ?? 'output.destination';
    const { storage, uri } = this.resolve(owner, destination, field);
    const segments = destinationSegments(uri, output.inputName, output.ext);
    return this.writeAt(storage, segments, output.data, output.mime, opts.signal, field);
  }

  private async writeAt(
    storage: StorageRecord,
    segments: string[],
    data: Buffer,
    contentType: string,
    signal: AbortSignal | undefined,
    field: string,
  ): Promise<OutputLocation> {
    const key = joinKey(keyPrefix(storage), segments);
    const location = await this.connector(storage).write(key, data, contentType, { signal, field });
    const out: OutputLocation = {
      object_uri: location.uri,
      object_key: location.key,
      claid_storage_uri: formatStorageUri(storage.name, segments),
    };
    if (location.bucket !== undefined) out.object_bucket = location.bucket;
    return out;
  }

  /**
   * The files in a folder (`storage://name/path/`, the trailing slash optional), sorted by path; with
   * `recursive`, those of its sub-folders too. Keys that no storage URI can address (with `.`, `..` or
   * empty segments, possible in S3) are left out.
   */
  async listFolder(
    owner: string,
    uri: string,
    opts: { recursive: boolean; signal?: AbortSignal; field?: string; limit?: number },
  ): Promise<ListedObject[]> {
    const field = opts.field ?? 'input';
    const { storage, uri: parsed } = this.resolve(owner, uri, field);
    const storagePrefix = folderKey(keyPrefix(storage), []);
    const prefix = folderKey(keyPrefix(storage), parsed.segments);
    const keys = await this.connector(storage).list(prefix, {
      recursive: opts.recursive,
      signal: opts.signal,
      limit: opts.limit ?? this.deps.config.maxListedFiles,
      field,
    });
    const listed: ListedObject[] = [];
    for (const key of keys) {
      const path = key.slice(storagePrefix.length);
      const segments = path.split('/');
      if (segments.some((s) => s === '' || s === '.' || s === '..')) continue;
      listed.push({
        uri: formatStorageUri(storage.name, segments),
        path,
        relative: key.slice(prefix.length),
      });
    }
    return listed;
  }

  // -------------------------------------------------------------------------------------------------------
  // Connectors

  private connector(storage: StorageRecord): StorageConnector {
    const cached = this.connectors.get(storage.id);
    if (cached && cached.version === storage.version) {
      // Re-insert: the map's order is the eviction order.
      this.connectors.delete(storage.id);
      this.connectors.set(storage.id, cached);
      return cached.connector;
    }
    this.forget(storage.id);
    const connector = this.createConnector(storage);
    this.connectors.set(storage.id, { version: storage.version, connector });
    while (this.connectors.size > CONNECTOR_CACHE_SIZE) {
      const oldest = this.connectors.keys().next().value as number;
      this.forget(oldest);
    }
    return connector;
  }

  private createConnector(storage: StorageRecord): StorageConnector {
    const { config, fetcher } = this.deps;
    const timeouts = { connectTimeoutMs: config.connectTimeoutMs, requestTimeoutMs: config.requestTimeoutMs };
    switch (storage.type) {
      case 's3':
      case 'gcs': {
        const p = storage.parameters as unknown as BucketParameters;
        const common = {
          storage: storage.name,
          bucket: p.bucket,
          accessKeyId: p.credentials.access_key,
          secretAccessKey: this.openSecret(storage),
          ...timeouts,
        };
        if (storage.type === 'gcs') return gcsConnector({ ...common, endpoint: config.gcsEndpoint });
        return new S3Connector({
          ...common,
          endpoint: config.s3.endpoint,
          region: config.s3.region,
          forcePathStyle: config.s3.forcePathStyle,
          uriScheme: 's3',
        });
      }
      case 'web_folder':
        return new WebFolderConnector({ storage: storage.name, baseUrl: storage.parameters.base_url as string, fetcher });
      case 'local':
        return new LocalConnector({
          storage: storage.name,
          root: config.localRoot,
          folder: localFolder(config.localRoot, storage.parameters.path as string),
          protectedDirs: [config.dataDir],
        });
    }
  }

  private openSecret(storage: StorageRecord): string {
    try {
      if (storage.sealedSecret === null) throw new UnsealError('corrupt', 'no secret stored');
      return this.deps.secrets.open(storage.sealedSecret, secretContext(storage.owner));
    } catch (err) {
      if (!(err instanceof UnsealError)) throw err;
      const why =
        err.reason === 'other_key'
          ? 'it was stored under another ATELIER_SECRET_KEY (or another installation secret)'
          : 'the stored value is damaged';
      throw new StorageError(
        'storage_secret_unreadable',
        `The secret access key of storage "${storage.name}" cannot be decrypted: ${why}. Restore the key it was ` +
          `stored with, or set the credentials again with PATCH /v1/storage/storages/${storage.id}.`,
        { storage: storage.name, storage_id: storage.id, reason: err.reason },
      );
    }
  }

  private forget(id: number): void {
    const cached = this.connectors.get(id);
    if (!cached) return;
    this.connectors.delete(id);
    cached.connector.close();
  }

  close(): void {
    for (const id of [...this.connectors.keys()]) this.forget(id);
  }
}

/** Associated data binding a sealed secret to its owner. */
function secretContext(owner: string): string {
  return `atelier/storage-secret/${owner}`;
}

/** The storage's own `path` prefix inside its bucket (s3, gcs); local and web folders have it built in. */
function keyPrefix(storage: StorageRecord): string[] {
  if (family(storage.type) !== 'bucket') return [];
  return pathSegments(String(storage.parameters.path ?? ''), 'parameters.path');
}

/** A bucket storage's `path` must be usable as a key prefix: no `.` or `..` segments. */
function checkPrefix(path: string): void {
  try {
    pathSegments(path, 'parameters.path');
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    throw new ValidationError('parameters.path: "." and ".." segments and control characters are not allowed.', {
      field: 'parameters.path',
    });
  }
}

function localFolder(root: string, path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(root, path);
}

function namesFolder(uri: string, field: string): StorageError {
  return new StorageError('invalid_storage_uri', `${field}: "${uri.slice(0, 200)}" names a folder, not a file.`, {
    field,
  });
}
