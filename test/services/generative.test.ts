// The small rules of the generate and AI edit services: output defaults, sizes per aspect ratio, numbered
// names and destinations, the seed header, the size setting, and the AI edit task view.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../src/errors.js';
import {
  aiEditSize,
  aiEditTaskView,
  aspectMultiple,
  normaliseAiEditOutput,
} from '../../src/services/ai-edit.js';
import { generateSettingsFromEnv, parseSeedHeader } from '../../src/services/generate.js';
import { asFolder, numberedDestination, numberedName } from '../../src/services/generative-output.js';
import type { TaskRecord } from '../../src/tasks/index.js';
import { costOfAiEdit, costOfGenerate } from '../../src/accounts/credits.js';

describe('AI edit output and sizes', () => {
  test('output defaults: one PNG to temporary storage; a bare string is the destination', () => {
    assert.deepEqual(normaliseAiEditOutput(undefined), { count: 1, format: 'png' });
    assert.deepEqual(normaliseAiEditOutput({}), { count: 1, format: 'png' });
    assert.deepEqual(normaliseAiEditOutput('storage://s/out/a.jpg'), { count: 1, format: 'png', destination: 'storage://s/out/a.jpg' });
    assert.deepEqual(normaliseAiEditOutput({ number_of_images: 3, format: 'jpeg' }), { count: 3, format: 'jpeg' });
  });

  test('the aspect grid is 64 px for real sides and finer for test sides', () => {
    assert.equal(aspectMultiple(1024), 64);
    assert.equal(aspectMultiple(512), 64);
    assert.equal(aspectMultiple(256), 32);
    assert.equal(aspectMultiple(128), 16);
    assert.equal(aspectMultiple(64), 8);
  });

  test('size: the requested ratio, else the ratio nearest the input (the reference\'s 500×500 → 1024×1024)', () => {
    assert.deepEqual(aiEditSize({ width: 500, height: 500 }, undefined, 1024), { ratio: '1:1', size: { width: 1024, height: 1024 } });
    assert.deepEqual(aiEditSize({ width: 500, height: 500 }, '16:9', 1024), { ratio: '16:9', size: { width: 1344, height: 768 } });
    assert.deepEqual(aiEditSize({ width: 1080, height: 1920 }, undefined, 1024), { ratio: '9:16', size: { width: 768, height: 1344 } });
    assert.deepEqual(aiEditSize({ width: 548, height: 342 }, undefined, 64), { ratio: '3:2', size: { width: 80, height: 56 } });
  });
});

describe('numbered outputs', () => {
  test('names: unchanged for one image, stem_index.ext for several', () => {
    assert.equal(numberedName('cake.png', 1, 1), 'cake.png');
    assert.equal(numberedName('cake.png', 2, 3), 'cake_2.png');
    assert.equal(numberedName('cake', 1, 2), 'cake_1');
    assert.equal(numberedName('.hidden', 1, 2), '.hidden_1');
  });

  test('destinations: folders stay folders, file names get the index before the extension', () => {
    assert.equal(numberedDestination('storage://s/out/cake.jpg', 1, 1, 'f'), 'storage://s/out/cake.jpg');
    assert.equal(numberedDestination('storage://s/out/cake.jpg', 2, 2, 'f'), 'storage://s/out/cake_2.jpg');
    assert.equal(numberedDestination('storage://s/out/', 2, 2, 'f'), 'storage://s/out/');
    assert.equal(numberedDestination('storage://s/my%20dir/a%20b.png', 1, 2, 'f'), 'storage://s/my%20dir/a%20b_1.png');
    assert.equal(asFolder('storage://s/out'), 'storage://s/out/');
    assert.equal(asFolder('storage://s/out/'), 'storage://s/out/');
  });
});

describe('generate settings and seed header', () => {
  test('ATELIER_GENERATE_SIZE: 1024 by default, multiples of 8 from 64 to 2048', () => {
    assert.deepEqual(generateSettingsFromEnv({}), { size: 1024 });
    assert.deepEqual(generateSettingsFromEnv({ ATELIER_GENERATE_SIZE: '64' }), { size: 64 });
    assert.deepEqual(generateSettingsFromEnv({ ATELIER_GENERATE_SIZE: '2048' }), { size: 2048 });
    for (const bad of ['63', '2056', '100', 'big', '512.0x']) {
      assert.throws(() => generateSettingsFromEnv({ ATELIER_GENERATE_SIZE: bad }), /ATELIER_GENERATE_SIZE/);
    }
  });

  test('x-atelier-seed: an integer from 0 to 2^32 - 1', () => {
    assert.equal(parseSeedHeader(undefined), undefined);
    assert.equal(parseSeedHeader('0'), 0);
    assert.equal(parseSeedHeader(' 42 '), 42);
    assert.equal(parseSeedHeader('4294967295'), 4294967295);
    for (const bad of ['4294967296', '-1', '1.5', 'abc', '']) {
      const err = (() => {
        try {
          parseSeedHeader(bad);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(err instanceof ValidationError, bad);
      assert.deepEqual((err.details.errors as { loc: string[] }[])[0]?.loc, ['header', 'x-atelier-seed']);
    }
  });
});

describe('credits', () => {
  test('per image asked for, with the contract\'s defaults', () => {
    assert.equal(costOfGenerate(undefined), 16);
    assert.equal(costOfGenerate(1), 4);
    assert.equal(costOfAiEdit(undefined), 4);
    assert.equal(costOfAiEdit(3), 12);
  });
});

describe('AI edit task view', () => {
  const base: TaskRecord = {
    id: 7,
    kind: 'ai_edit',
    status: 'PROCESSING',
    owner: 'k',
    request: { input: 'https://x.test/a.png', options: { prompt: 'add a duck' } },
    result: null,
    errors: [],
    createdAt: '2026-01-01T00:00:00.000+00:00',
    updatedAt: '2026-01-01T00:00:00.000+00:00',
    startedAt: null,
    finishedAt: null,
    attempts: 1,
    maxAttempts: 3,
    leaseOwner: null,
    leaseUntil: null,
  };

  test('unfinished and failed tasks have an empty result; a DONE task shows input_object and output_objects', () => {
    assert.deepEqual(aiEditTaskView(base), {
      id: 7,
      status: 'PROCESSING',
      created_at: base.createdAt,
      request: base.request,
      errors: [],
      result: {},
    });
    const errors = [{ error: 'The input could not be fetched.', created_at: base.createdAt }];
    assert.deepEqual(aiEditTaskView({ ...base, status: 'ERROR', errors }).result, {});
    assert.deepEqual(aiEditTaskView({ ...base, status: 'ERROR', errors }).errors, errors);
    const result = {
      input_object: { ext: 'png', mps: 0.25, mime: 'image/png', format: 'PNG', width: 500, height: 500 },
      output_objects: [{ ext: 'png', mps: 1.048576, mime: 'image/png', format: 'PNG', width: 1024, height: 1024, tmp_url: 'http://x/tmp/t/a.png' }],
    };
    assert.deepEqual(aiEditTaskView({ ...base, status: 'DONE', result }).result, result);
  });
});
