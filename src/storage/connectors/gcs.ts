// Google Cloud Storage through its S3-interoperable XML API, signed with HMAC keys: the access key and secret
// of the published GCS credentials are exactly such a key pair. The S3 connector does the work; GCS differs
// only in its endpoint, its region ("auto" for V4 signatures) and its URI scheme.
import { S3Connector, type S3ConnectorOptions } from './s3.js';

export const GCS_DEFAULT_ENDPOINT = 'https://storage.googleapis.com';

export type GcsConnectorOptions = Omit<S3ConnectorOptions, 'region' | 'forcePathStyle' | 'uriScheme' | 'endpoint'> & {
  /** The XML API endpoint; another one only for tests or a proxy. */
  endpoint?: string;
};

export function gcsConnector(opts: GcsConnectorOptions): S3Connector {
  return new S3Connector({
    ...opts,
    endpoint: opts.endpoint ?? GCS_DEFAULT_ENDPOINT,
    region: 'auto',
    // Path style works for every bucket name, dotted ones included, over one TLS host name.
    forcePathStyle: true,
    uriScheme: 'gs',
  });
}
