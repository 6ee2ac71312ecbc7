// Typed errors shared by every layer. Each carries what the HTTP layer needs to answer in the contract's
// error shape, so the pipeline, storage and task code can fail precisely without knowing about HTTP.
import type { ErrorType, HttpErrorDetails } from './contract/types.js';

export class AtelierError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: ErrorType;
  readonly details: Record<string, unknown>;

  constructor(
    status: number,
    type: ErrorType,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AtelierError';
    this.status = status;
    this.type = type;
    this.code = code;
    this.details = details;
  }

  toBody(): HttpErrorDetails {
    return {
      error_code: this.code,
      error_type: this.type,
      error_message: this.message,
      error_details: this.details,
    };
  }
}

/**
 * A request that is well-formed JSON but asks for something invalid (422, `validation`). Details given as a
 * dotted `field` also get the contract's `errors: [{loc, msg, type}]` list, so every 422 reads the same.
 */
export class ValidationError extends AtelierError {
  constructor(message: string, details: Record<string, unknown> = {}, code = 'validation_error') {
    const field = details.field;
    if (typeof field === 'string' && details.errors === undefined) {
      details = { ...details, errors: [{ loc: ['body', ...field.split('.')], msg: message, type: 'value_error' }] };
    }
    super(422, 'validation', code, message, details);
    this.name = 'ValidationError';
  }
}

/** The input image cannot be used: unreadable, truncated, unsupported, too large (422, `image`). */
export class ImageError extends AtelierError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, status = 422) {
    super(status, 'image', code, message, details);
    this.name = 'ImageError';
  }
}

/** Fetching an input or writing an output failed (422 unless given, `storage`). */
export class StorageError extends AtelierError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, status = 422) {
    super(status, 'storage', code, message, details);
    this.name = 'StorageError';
  }
}

/** A requested capability exists in the contract but cannot run here (model missing, not built yet). */
export class UnavailableError extends AtelierError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, status = 503) {
    super(status, 'runtime_settings', code, message, details);
    this.name = 'UnavailableError';
  }
}

export class NotFoundError extends AtelierError {
  constructor(message: string, details: Record<string, unknown> = {}, code = 'not_found') {
    super(404, 'general', code, message, details);
    this.name = 'NotFoundError';
  }
}

export function isAtelierError(err: unknown): err is AtelierError {
  return err instanceof AtelierError;
}
