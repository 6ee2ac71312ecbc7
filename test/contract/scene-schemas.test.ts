// The scene request schema against the contract: structurally identical to SceneCreateAPIIn once the
// contract's references are resolved and its prose (titles, descriptions, defaults) is set aside; the
// published example bodies pass untouched; errors land at the right place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sceneCreateRequestSchema, type SceneCreateRequest } from '../../src/contract/scene-schemas.js';
import { compile } from '../../src/contract/validation.js';
import { issuesOf, rejection } from './helpers.js';
import { contractSchemas } from '../support/contract.js';

const validate = compile<SceneCreateRequest>(sceneCreateRequestSchema);

/** Resolves `$ref`s, unwraps single-entry `allOf`, and drops the keywords that carry no constraint. */
function normalise(node: unknown, schemas: Record<string, unknown>): unknown {
  if (Array.isArray(node)) return node.map((n) => normalise(n, schemas));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj.$ref === 'string') return normalise(schemas[obj.$ref.replace('#/components/schemas/', '')], schemas);
  if (Array.isArray(obj.allOf) && obj.allOf.length === 1) return normalise(obj.allOf[0], schemas);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'title' || k === 'description' || k === 'default') continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, normalise(s, schemas)])) : normalise(v, schemas);
  }
  return out;
}

function assertAccepted(body: unknown): void {
  const before = structuredClone(body);
  assert.equal(validate(body), body);
  assert.deepEqual(body, before, 'nothing filled in or removed');
}

describe('scene create schema', () => {
  it('is the contract SceneCreateAPIIn, constraint for constraint', () => {
    const schemas = contractSchemas();
    const ours = JSON.parse(JSON.stringify(sceneCreateRequestSchema));
    assert.deepEqual(ours, normalise(schemas.SceneCreateAPIIn, schemas));
  });

  it('accepts the request of the API reference page and the generated example', () => {
    assertAccepted({
      object: {
        image_url: 'https://images.claid.ai/photoshoot-templates/docs/product.png',
        rotation_degree: 0.0,
        scale: 0.55,
        position: { x: 0.35, y: 0.5 },
      },
      scene: {
        template_url: 'https://images.claid.ai/photoshoot-templates/docs/scene.png',
        template_mode: 'transform',
        view: 'front',
        prompt: 'marble countertop, marble wall background, monochromatic, bokeh, closeup, professional product photography',
      },
      output: { number_of_images: 1, format: 'png' },
    });
    assertAccepted({
      output: { number_of_images: 4, destination: 'https://example.com', format: 'png' },
      object: { image_url: 'storage://storage_1/path/image.jpg', placement_type: 'absolute', rotation_degree: 0, scale: 1, position: { x: 0.5, y: 0.5 } },
      scene: { effect: 'shadows', color: 'text', view: 'top' },
    });
    assertAccepted({
      object: { image_url: 'storage://storage-name/path/image.png', placement_type: 'original' },
      scene: { prompt: { generate: true, guidelines: 'real life setting' }, negative_prompt: 'watermark, low quality', steps: 25, aspect_ratio: '16:9', preference: 'fast', model: 'v2' },
      output: 'storage://storage-name/path/',
    });
  });

  it('tells the three object and scene shapes apart', () => {
    assertAccepted({ object: { image_url: 'https://x.test/a.png', placement_type: 'padding', padding: '10%' }, scene: { effect: 'shadows' } });
    // `padding` belongs to the padding placement only.
    const issues = issuesOf(rejection(validate, { object: { image_url: 'https://x.test/a.png', padding: '10%' }, scene: { effect: 'shadows' } }));
    assert.ok(issues.some((i) => i.loc.join('.').startsWith('body.object')), JSON.stringify(issues));
    // A template scene has no aspect ratio; an effect scene no prompt.
    assert.ok(rejection(validate, { object: { image_url: 'https://x.test/a.png' }, scene: { template_url: 'https://x.test/t.png', view: 'top', aspect_ratio: '1:1' } }));
    assert.ok(rejection(validate, { object: { image_url: 'https://x.test/a.png' }, scene: { effect: 'shadows', prompt: 'x y z' } }));
  });

  it('enforces ranges and lengths', () => {
    const obj = { image_url: 'https://x.test/a.png' };
    const bad: [unknown, string][] = [
      [{ object: { ...obj, scale: 0.005 }, scene: { effect: 'shadows' } }, 'body.object'],
      [{ object: { ...obj, rotation_degree: 361 }, scene: { effect: 'shadows' } }, 'body.object'],
      [{ object: { ...obj, position: { x: 1.5 } }, scene: { effect: 'shadows' } }, 'body.object'],
      [{ object: obj, scene: { prompt: 'ab' } }, 'body.scene'],
      [{ object: obj, scene: { prompt: 'a table', steps: 50 } }, 'body.scene'],
      [{ object: obj, scene: { prompt: 'a table', steps: 0 } }, 'body.scene'],
      [{ object: obj, scene: { effect: 'shadows' }, output: { number_of_images: 0 } }, 'body.output'],
      [{ object: obj, scene: { effect: 'shadows' }, output: { format: { type: 'tiff' } } }, 'body.output'],
      [{ object: obj }, 'body.scene'],
      [{ scene: { effect: 'shadows' } }, 'body.object'],
      [{ object: obj, scene: { effect: 'shadows' }, extra: 1 }, 'body.extra'],
    ];
    for (const [body, where] of bad) {
      const issues = issuesOf(rejection(validate, body));
      assert.ok(issues.some((i) => i.loc.join('.').startsWith(where)), `${JSON.stringify(body)} → ${JSON.stringify(issues)}`);
    }
    // The integer branch of `scale` admits 0 and 1 exactly as the contract does (0 is refused by the service).
    assertAccepted({ object: { ...obj, scale: 0 }, scene: { effect: 'shadows' } });
    assertAccepted({ object: { ...obj, scale: 1, rotation_degree: 360 }, scene: { effect: 'shadows' }, output: { format: 'tiff' } });
  });
});
