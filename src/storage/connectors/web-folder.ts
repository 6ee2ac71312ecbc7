// A web folder: objects are read by HTTP GET of `base_url` + path through the input fetcher, so they get the
// same limits and outbound-address guard as any input URL. It can neither be written nor listed.
import { StorageError } from '../../errors.js';
import type { FetchedFile } from '../fetch.js';
import {
  keyName,
  objectNotFound,
  type ListOptions,
  type ObjectLocation,
  type ReadOptions,
  type StorageConnector,
  type StoredObject,
  type WriteOptions,
} from './types.js';

/** The part of the input fetcher a web folder needs. */
export interface UrlFetcher {
  fetch(url: URL, signal?: AbortSignal, field?: string): Promise<FetchedFile>;
}

/** `https://cdn.example.com/images` + `a b/c.png` → `https://cdn.example.com/images/a%20b/c.png` (query kept). */
export function webFolderObjectUrl(baseUrl: string, key: string): URL {
  const base = new URL(baseUrl);
  const folder = new URL(base.href);
  folder.search = '';
  folder.hash = '';
  if (!folder.pathname.endsWith('/')) folder.pathname = `${folder.pathname}/`;
  const relative = key
    .split('/')
    .filter(Boolean)
    .map((s) => encodeURIComponent(s))
    .join('/');
  const url = new URL(relative, folder);
  url.search = base.search;
  return url;
}

export class WebFolderConnector implements StorageConnector {
  constructor(
    private readonly opts: { storage: string; baseUrl: string; fetcher: UrlFetcher },
  ) {}

  async read(key: string, { signal, field }: ReadOptions): Promise<StoredObject> {
    const url = webFolderObjectUrl(this.opts.baseUrl, key);
    try {
      const file = await this.opts.fetcher.fetch(url, signal, field);
      return { data: file.data, name: keyName(key) };
    } catch (err) {
      const status = err instanceof StorageError ? err.details.status : undefined;
      if (status === 404 || status === 410) throw objectNotFound(this.opts.storage, key, field);
      if (status === 401 || status === 403) {
        throw new StorageError(
          'storage_access_denied',
          `${field}: the web folder of storage "${this.opts.storage}" refused access to "${key}" (HTTP ${status}).`,
          { field, storage: this.opts.storage, status },
        );
      }
      throw err;
    }
  }

  async write(_key: string, _data: Buffer, _type: string, { field }: WriteOptions): Promise<ObjectLocation> {
    throw new StorageError(
      'storage_read_only',
      `${field}: storage "${this.opts.storage}" is a web_folder storage; web_folder storages are read-only.`,
      { field, storage: this.opts.storage },
    );
  }

  async list(_prefix: string, { field }: ListOptions): Promise<string[]> {
    throw new StorageError(
      'storage_not_listable',
      `${field}: storage "${this.opts.storage}" is a web_folder storage; web_folder storages cannot be listed.`,
      { field, storage: this.opts.storage },
    );
  }

  close(): void {}
}
