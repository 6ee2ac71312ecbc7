// From a validated scene request to the render plan: defaults, prose rules of the contract, engine choices,
// and what each kind of scene costs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costOfScene, CREDIT_COSTS } from '../../../src/accounts/credits.js';
import type { SceneCreateRequest } from '../../../src/contract/scene-schemas.js';
import { ValidationError } from '../../../src/errors.js';
import { planScene, promptOf, TEMPLATE_STRENGTH, usesDiffusion, DEFAULT_TEMPLATE_PROMPT } from '../../../src/pipeline/scene/plan.js';

const object = { image_url: 'https://x.test/p.png' };

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.details.field;
  }
  assert.fail('expected a ValidationError');
}

describe('planScene: defaults', () => {
  it('effect scenes: 4 PNG images, 1:1, white background, automatic view, centred at full scale', () => {
    const plan = planScene({ object, scene: { effect: 'shadows' } });
    assert.equal(plan.count, 4);
    assert.equal(plan.output.format, 'png');
    assert.equal(plan.destination, undefined);
    assert.deepEqual(plan.placement, { type: 'absolute', x: 0.5, y: 0.5, scale: 1, rotation: 0 });
    assert.deepEqual(plan.scene, {
      kind: 'shadows',
      size: { width: 1024, height: 1024 },
      background: { kind: 'colour', rgba: { r: 255, g: 255, b: 255, alpha: 255 } },
      view: 'auto',
    });
    assert.equal(usesDiffusion(plan), false);
  });

  it('a bare string output is the destination', () => {
    const plan = planScene({ object, scene: { effect: 'shadows' }, output: 'storage://out/scenes/' });
    assert.equal(plan.destination, 'storage://out/scenes/');
    assert.equal(plan.count, 4);
  });

  it('reads colour, view, aspect ratio, format options and placement', () => {
    const plan = planScene({
      object: { image_url: 'https://x.test/p.png', placement_type: 'padding', padding: '5% 10%' },
      scene: { effect: 'shadows', color: 'transparent', view: 'top', aspect_ratio: '9:16' },
      output: { number_of_images: 2, format: { type: 'webp', compression: 'lossless' } },
    });
    assert.equal(plan.count, 2);
    assert.deepEqual(plan.output.encoder, { format: 'webp', lossless: true, quality: 75 });
    assert.equal(plan.placement.type, 'padding');
    assert.deepEqual(plan.scene, { kind: 'shadows', size: { width: 792, height: 1408 }, background: { kind: 'transparent' }, view: 'top' });
  });
});

describe('planScene: generated scenes', () => {
  it('prompt scenes inpaint from noise, or keep a little of the colour canvas', () => {
    const plain = planScene({ object, scene: { prompt: 'on a marble table', model: 'v2-beta', preference: 'fast', steps: 12 } });
    assert.equal(usesDiffusion(plain), true);
    assert.equal(plain.scene.kind, 'prompt');
    if (plain.scene.kind !== 'prompt') return;
    assert.deepEqual(plain.scene.diffusion, { model: 'v2', preference: 'fast', prompt: { kind: 'text', text: 'on a marble table' }, steps: 12, strength: 1 });
    const coloured = planScene({ object, scene: { prompt: 'on a marble table', color: '#8fa782' } });
    if (coloured.scene.kind !== 'prompt') return assert.fail();
    assert.deepEqual(coloured.scene.colour, { r: 0x8f, g: 0xa7, b: 0x82, alpha: 255 });
    assert.ok(coloured.scene.diffusion.strength < 1);
  });

  it('templates: lock needs no diffusion; transform and adjust repaint with their strengths', () => {
    const base = { template_url: 'https://x.test/t.png', view: 'front' as const };
    const lock = planScene({ object, scene: { ...base, template_mode: 'lock', prompt: 'ignored in lock mode' } });
    assert.equal(usesDiffusion(lock), false);
    const transform = planScene({ object, scene: base });
    if (transform.scene.kind !== 'template') return assert.fail();
    assert.equal(transform.scene.mode, 'transform', 'transform is the default mode');
    assert.equal(transform.scene.diffusion?.strength, TEMPLATE_STRENGTH.transform);
    assert.deepEqual(transform.scene.diffusion?.prompt, { kind: 'text', text: DEFAULT_TEMPLATE_PROMPT });
    const adjust = planScene({ object, scene: { ...base, template_mode: 'adjust', prompt: { generate: true } } });
    if (adjust.scene.kind !== 'template') return assert.fail();
    assert.equal(adjust.scene.diffusion?.strength, TEMPLATE_STRENGTH.adjust);
    assert.deepEqual(adjust.scene.diffusion?.prompt, { kind: 'generate' });
    assert.ok(TEMPLATE_STRENGTH.adjust < TEMPLATE_STRENGTH.transform);
  });
});

describe('planScene: rules stated in prose', () => {
  it('prompt objects: text excludes generate, guidelines need generate, something must be asked', () => {
    assert.deepEqual(promptOf({ generate: true, guidelines: 'real life setting' }), { kind: 'generate', guidelines: 'real life setting' });
    assert.deepEqual(promptOf({ text: 'on sand' }), { kind: 'text', text: 'on sand' });
    assert.deepEqual(promptOf({ text: 'on sand', generate: false }), { kind: 'text', text: 'on sand' });
    assert.equal(fieldOf(() => promptOf({ generate: true, text: 'on sand' })), 'scene.prompt.text');
    assert.equal(fieldOf(() => promptOf({ guidelines: 'bright' })), 'scene.prompt.guidelines');
    assert.equal(fieldOf(() => promptOf({})), 'scene.prompt.text');
  });

  it('refuses scale 0, bad colours, transparent generated scenes and bad padding', () => {
    assert.equal(fieldOf(() => planScene({ object: { ...object, scale: 0 }, scene: { effect: 'shadows' } })), 'object.scale');
    assert.equal(fieldOf(() => planScene({ object, scene: { effect: 'shadows', color: 'red' } })), 'scene.color');
    assert.equal(fieldOf(() => planScene({ object, scene: { prompt: 'on sand', color: 'transparent' } })), 'scene.color');
    assert.equal(
      fieldOf(() => planScene({ object: { ...object, placement_type: 'padding', padding: '10%%' }, scene: { effect: 'shadows' } })),
      'object.padding',
    );
  });
});

describe('costOfScene', () => {
  const plan = (req: Partial<SceneCreateRequest>) => planScene({ object, scene: { effect: 'shadows' }, ...req } as SceneCreateRequest);
  it('charges per image by what makes the background, plus the automatic prompt once', () => {
    assert.equal(costOfScene(plan({})), 4 * CREDIT_COSTS.sceneComposite);
    assert.equal(costOfScene(plan({ output: { number_of_images: 1 } })), CREDIT_COSTS.sceneComposite);
    assert.equal(
      costOfScene(plan({ scene: { template_url: 'https://x.test/t.png', view: 'top', template_mode: 'lock' }, output: { number_of_images: 2 } })),
      2 * CREDIT_COSTS.sceneComposite,
    );
    assert.equal(costOfScene(plan({ scene: { prompt: 'on sand' }, output: { number_of_images: 2 } })), 2 * CREDIT_COSTS.sceneGenerated);
    assert.equal(
      costOfScene(plan({ scene: { prompt: { generate: true } }, output: { number_of_images: 3 } })),
      3 * CREDIT_COSTS.sceneGenerated + CREDIT_COSTS.sceneAutoPrompt,
    );
    assert.ok(CREDIT_COSTS.sceneComposite < CREDIT_COSTS.sceneGenerated);
  });
});
