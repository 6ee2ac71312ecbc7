// POST /v1/image/edit (JSON, input by URL) and POST /v1/image/edit/upload (multipart: `file` + `data`).
// Both answer `{ data: { input, output, profiling } }` synchronously.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import type { EditRequest, UploadEditRequest } from '../contract/types.js';
import { editRequestSchema, uploadDataSchema } from '../contract/schemas.js';
import { compile } from '../contract/validation.js';
import { ImageError, ValidationError } from '../errors.js';
import { costOfEdit } from '../accounts/credits.js';
import type { AppServices } from '../server/services.js';
import { beginIdempotent, fingerprintOf } from '../server/idempotency.js';
import { normaliseOutput } from '../services/edit.js';

const validateUploadData = compile<UploadEditRequest>(uploadDataSchema, 'data');

/** An AbortSignal that fires when the client goes away, so abandoned edits stop early. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  // The response closing before it was fully written means the connection went away under us.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller.signal;
}

async function readUpload(request: FastifyRequest, maxBytes: number): Promise<{ file: Buffer; name: string; data: UploadEditRequest }> {
  let file: Buffer | undefined;
  let name = 'image';
  let rawData: string | undefined;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'file' || file) {
        part.file.resume();
        throw new ValidationError(`Unexpected file field "${part.fieldname}": send exactly one file, named "file".`, {
          errors: [{ loc: ['body', part.fieldname], msg: 'Unexpected file field.', type: 'extra_forbidden' }],
        });
      }
      try {
        file = await (part as MultipartFile).toBuffer();
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw new ImageError('input_too_large', `file: the upload is larger than the ${maxBytes} bytes allowed.`, {
            field: 'file',
            max_bytes: maxBytes,
          });
        }
        throw err;
      }
      name = part.filename || name;
    } else if (part.fieldname === 'data') {
      rawData = String(part.value);
    } else {
      throw new ValidationError(`Unexpected form field "${part.fieldname}": only "file" and "data" are accepted.`, {
        errors: [{ loc: ['body', part.fieldname], msg: 'Extra inputs are not permitted.', type: 'extra_forbidden' }],
      });
    }
  }
  const missing = [!file && 'file', rawData === undefined && 'data'].filter(Boolean) as string[];
  if (missing.length > 0) {
    throw new ValidationError(`Missing form field(s): ${missing.join(', ')}.`, {
      errors: missing.map((f) => ({ loc: ['body', f], msg: 'Field required.', type: 'missing' })),
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawData!);
  } catch {
    throw new ValidationError('data: the "data" field must be a JSON object with the edit request (without "input").', {
      errors: [{ loc: ['body', 'data'], msg: 'Invalid JSON.', type: 'json_invalid' }],
    });
  }
  return { file: file!, name, data: validateUploadData(parsed) };
}

export async function editRoutes(app: FastifyInstance, services: AppServices): Promise<void> {
  const { edit, billing, admission, config } = services;

  app.post<{ Body: EditRequest }>(
    '/v1/image/edit',
    { schema: { body: editRequestSchema }, config: { scope: 'image_editing', idempotent: true } },
    async (request, reply) => {
      const body = request.body;
      const output = normaliseOutput(body.output);
      edit.precheck(request.apiKey!.id, body.operations, output, body.input);
      const signal = clientGone(reply);
      const data = await billing.charge(request.apiKey!.id, costOfEdit(body.operations), () =>
        admission.run(() =>
          edit.withInput(request.apiKey!.id, body.input, signal, (input) =>
            edit.edit(request.apiKey!.id, input, body.operations, output, { signal }),
          ),
        ),
      );
      return { data };
    },
  );

  app.post(
    '/v1/image/edit/upload',
    { config: { scope: 'image_editing', idempotent: 'manual' } },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new ValidationError('This endpoint takes multipart/form-data with a "file" part and a "data" field.', {
          errors: [{ loc: ['body'], msg: 'Expected multipart/form-data.', type: 'content_type' }],
        });
      }
      const upload = await readUpload(request, config.limits.maxInputBytes);
      // The boundary differs on every send, so the fingerprint is taken from what was parsed, not the raw body.
      const fingerprint = fingerprintOf(upload.name, JSON.stringify(upload.data), upload.file);
      if (await beginIdempotent(request, reply, fingerprint)) return reply;
      const output = normaliseOutput(upload.data.output);
      edit.precheck(request.apiKey!.id, upload.data.operations, output);
      const signal = clientGone(reply);
      const data = await billing.charge(request.apiKey!.id, costOfEdit(upload.data.operations), () =>
        admission.run(() =>
          edit.edit(request.apiKey!.id, { data: upload.file, name: upload.name }, upload.data.operations, output, { signal }),
        ),
      );
      return { data };
    },
  );
}
