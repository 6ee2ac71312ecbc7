// The generative request schemas against every limit the contract states (GenerateRequest,
// ImageGenerateOptions, AiEditAPIRequest, AIEditRequestOutputObject, AiEditRequestOptionsObject): the value
// just inside each bound is accepted, the value just outside is refused at the right location and type.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../../src/contract/validation.js';
import {
  AI_EDIT_ASPECT_RATIOS,
  AI_EDIT_FORMATS,
  AI_EDIT_MODELS,
  aiEditRequestSchema,
  generateRequestSchema,
  type AiEditRequest,
  type GenerateRequest,
} from '../../src/contract/generative-schemas.js';
import { expectSingleIssue, withValue } from './helpers.js';
import { contractSchemas } from '../support/contract.js';

const validateGenerate = compile<GenerateRequest>(generateRequestSchema);
const validateAiEdit = compile<AiEditRequest>(aiEditRequestSchema);

const GEN = { input: 'A delicious ceviche cheesecake slice' };
const EDIT = { input: 'https://example.com/a.png', options: { prompt: 'add a duck' } };

describe('POST /v1/image/generate body', () => {
  test('the reference example and the minimal body are accepted', () => {
    validateGenerate({
      input: 'A delicious ceviche cheesecake slice',
      options: { number_of_images: 1, guidance_scale: 5.0 },
      output: 'storage://my-storage/images/',
    });
    validateGenerate(GEN);
    validateGenerate({ ...GEN, options: {} });
  });

  test('input: 3 to 1024 characters, required, a string', () => {
    validateGenerate({ input: 'abc' });
    validateGenerate({ input: 'x'.repeat(1024) });
    expectSingleIssue(validateGenerate, { input: 'ab' }, ['body', 'input'], 'too_short');
    expectSingleIssue(validateGenerate, { input: 'x'.repeat(1025) }, ['body', 'input'], 'too_long');
    expectSingleIssue(validateGenerate, {}, ['body', 'input'], 'missing');
    expectSingleIssue(validateGenerate, { input: 42 }, ['body', 'input'], 'type');
  });

  test('options.number_of_images: integer 1 to 4', () => {
    for (const n of [1, 2, 3, 4]) validateGenerate(withValue(GEN, ['options', 'number_of_images'], n));
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'number_of_images'], 0), ['body', 'options', 'number_of_images'], 'greater_than_equal');
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'number_of_images'], 5), ['body', 'options', 'number_of_images'], 'less_than_equal');
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'number_of_images'], 2.5), ['body', 'options', 'number_of_images'], 'type');
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'number_of_images'], '2'), ['body', 'options', 'number_of_images'], 'type');
  });

  test('options.guidance_scale: at least 1, below 50 (exclusive)', () => {
    for (const g of [1, 5, 12.5, 49.999]) validateGenerate(withValue(GEN, ['options', 'guidance_scale'], g));
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'guidance_scale'], 0.999), ['body', 'options', 'guidance_scale'], 'greater_than_equal');
    const issue = expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'guidance_scale'], 50), ['body', 'options', 'guidance_scale'], 'less_than');
    assert.deepEqual(issue.ctx, { lt: 50 });
  });

  test('unknown fields are refused at the top and in options', () => {
    expectSingleIssue(validateGenerate, { ...GEN, seed: 1 }, ['body', 'seed'], 'extra_forbidden');
    expectSingleIssue(validateGenerate, withValue(GEN, ['options', 'steps'], 20), ['body', 'options', 'steps'], 'extra_forbidden');
  });

  test('output: a URI of 1 to 4096 characters', () => {
    validateGenerate({ ...GEN, output: 'storage://s/' + 'a'.repeat(4096 - 'storage://s/'.length) });
    expectSingleIssue(validateGenerate, { ...GEN, output: '' }, ['body', 'output'], 'too_short');
    expectSingleIssue(validateGenerate, { ...GEN, output: 'storage://s/' + 'a'.repeat(4097 - 'storage://s/'.length) }, ['body', 'output'], 'too_long');
    expectSingleIssue(validateGenerate, { ...GEN, output: 'not a uri' }, ['body', 'output'], 'format');
  });
});

describe('POST /v1/image/ai-edit body', () => {
  test('the reference examples are accepted', () => {
    validateAiEdit({ input: 'https://picsum.photos/500', options: { prompt: 'add a duck' } });
    validateAiEdit({
      input: 'storage://storage-name/input-path/input.png',
      output: { destination: 'storage://storage-name/result-path/image-name.jpg', format: 'png', number_of_images: 1 },
      options: { model: 'v1', prompt: 'add a duck', inference_steps: 50, guidance_scale: 4.0, aspect_ratio: '1:1' },
    });
    validateAiEdit({ ...EDIT, output: 'storage://s/out/' });
  });

  test('the enumerations are the contract\'s', () => {
    const schemas = contractSchemas() as Record<string, { enum?: string[] }>;
    assert.deepEqual([...AI_EDIT_MODELS], schemas.AIEditModelAPI?.enum);
    assert.deepEqual([...AI_EDIT_FORMATS], schemas.AiEditFormatEnum?.enum);
    assert.deepEqual([...AI_EDIT_ASPECT_RATIOS], schemas.AiEditAspectRatio?.enum);
    for (const r of AI_EDIT_ASPECT_RATIOS) validateAiEdit(withValue(EDIT, ['options', 'aspect_ratio'], r));
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'aspect_ratio'], '5:4'), ['body', 'options', 'aspect_ratio'], 'enum');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'model'], 'v3'), ['body', 'options', 'model'], 'enum');
    expectSingleIssue(validateAiEdit, { ...EDIT, output: { format: 'webp' } }, ['body', 'output', 'format'], 'enum');
  });

  test('input and options are required; options.prompt is required, 3 to 5000 characters', () => {
    expectSingleIssue(validateAiEdit, { options: EDIT.options }, ['body', 'input'], 'missing');
    expectSingleIssue(validateAiEdit, { input: EDIT.input }, ['body', 'options'], 'missing');
    expectSingleIssue(validateAiEdit, { input: EDIT.input, options: {} }, ['body', 'options', 'prompt'], 'missing');
    validateAiEdit(withValue(EDIT, ['options', 'prompt'], 'abc'));
    validateAiEdit(withValue(EDIT, ['options', 'prompt'], 'x'.repeat(5000)));
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'prompt'], 'ab'), ['body', 'options', 'prompt'], 'too_short');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'prompt'], 'x'.repeat(5001)), ['body', 'options', 'prompt'], 'too_long');
  });

  test('options.inference_steps: integer 1 to 50', () => {
    for (const n of [1, 25, 50]) validateAiEdit(withValue(EDIT, ['options', 'inference_steps'], n));
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'inference_steps'], 0), ['body', 'options', 'inference_steps'], 'greater_than_equal');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'inference_steps'], 51), ['body', 'options', 'inference_steps'], 'less_than_equal');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'inference_steps'], 10.5), ['body', 'options', 'inference_steps'], 'type');
  });

  test('options.guidance_scale: 1 to 10, both inclusive', () => {
    for (const g of [1, 4.0, 10]) validateAiEdit(withValue(EDIT, ['options', 'guidance_scale'], g));
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'guidance_scale'], 0.5), ['body', 'options', 'guidance_scale'], 'greater_than_equal');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'guidance_scale'], 10.01), ['body', 'options', 'guidance_scale'], 'less_than_equal');
  });

  test('output object: number_of_images 1 to 4, destination a URI, nothing else', () => {
    for (const n of [1, 4]) validateAiEdit({ ...EDIT, output: { number_of_images: n } });
    expectSingleIssue(validateAiEdit, { ...EDIT, output: { number_of_images: 0 } }, ['body', 'output', 'number_of_images'], 'greater_than_equal');
    expectSingleIssue(validateAiEdit, { ...EDIT, output: { number_of_images: 5 } }, ['body', 'output', 'number_of_images'], 'less_than_equal');
    expectSingleIssue(validateAiEdit, { ...EDIT, output: { destination: '' } }, ['body', 'output', 'destination'], 'too_short');
    expectSingleIssue(validateAiEdit, { ...EDIT, output: { quality: 90 } }, ['body', 'output', 'quality'], 'extra_forbidden');
  });

  test('output of another type names both accepted forms; unknown fields are refused', () => {
    const issue = expectSingleIssue(validateAiEdit, { ...EDIT, output: 7 }, ['body', 'output'], 'type');
    assert.deepEqual(issue.ctx, { expected: ['object', 'string'] });
    expectSingleIssue(validateAiEdit, { ...EDIT, operations: {} }, ['body', 'operations'], 'extra_forbidden');
    expectSingleIssue(validateAiEdit, withValue(EDIT, ['options', 'strength'], 0.5), ['body', 'options', 'strength'], 'extra_forbidden');
    expectSingleIssue(validateAiEdit, { ...EDIT, input: 'no uri' }, ['body', 'input'], 'format');
  });
});
