// Maps the free text of `selective.object_to_keep` to the COCO classes the object detector knows. Exact class
// names, common synonyms and plurals are understood. In a phrase, a known word directly followed by another
// known word is read as an adjective ("orange car" → car), and otherwise the first known noun wins, as the
// subject of the phrase ("a man with a dog" → person).
import { COCO_LABELS } from '../models/vehicles.js';

export type CocoClass = (typeof COCO_LABELS)[number];

const SYNONYMS: Record<string, CocoClass[]> = {
  // people
  person: ['person'], people: ['person'], human: ['person'], humans: ['person'], man: ['person'], men: ['person'],
  woman: ['person'], women: ['person'], child: ['person'], children: ['person'], kid: ['person'], kids: ['person'],
  boy: ['person'], girl: ['person'], baby: ['person'], adult: ['person'], guy: ['person'], lady: ['person'],
  player: ['person'], model: ['person'], pedestrian: ['person'], portrait: ['person'], face: ['person'],
  // vehicles
  car: ['car'], automobile: ['car'], auto: ['car'], sedan: ['car'], suv: ['car', 'truck'], jeep: ['car', 'truck'],
  taxi: ['car'], cab: ['car'], van: ['car', 'truck'], minivan: ['car'], coupe: ['car'], hatchback: ['car'],
  vehicle: ['car', 'truck', 'bus', 'motorcycle'], vehicles: ['car', 'truck', 'bus', 'motorcycle'],
  truck: ['truck'], lorry: ['truck'], pickup: ['truck'], bus: ['bus'], coach: ['bus'],
  motorcycle: ['motorcycle'], motorbike: ['motorcycle'], scooter: ['motorcycle'], moped: ['motorcycle'],
  bicycle: ['bicycle'], bike: ['bicycle'], cycle: ['bicycle'], airplane: ['airplane'], aeroplane: ['airplane'],
  plane: ['airplane'], aircraft: ['airplane'], jet: ['airplane'], train: ['train'], locomotive: ['train'],
  tram: ['train'], boat: ['boat'], ship: ['boat'], yacht: ['boat'], canoe: ['boat'], kayak: ['boat'],
  // animals
  animal: ['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe'],
  pet: ['cat', 'dog'], dog: ['dog'], puppy: ['dog'], doggy: ['dog'], hound: ['dog'], cat: ['cat'], kitten: ['cat'],
  kitty: ['cat'], bird: ['bird'], parrot: ['bird'], pigeon: ['bird'], duck: ['bird'], horse: ['horse'],
  pony: ['horse'], sheep: ['sheep'], lamb: ['sheep'], cow: ['cow'], cattle: ['cow'], bull: ['cow'], calf: ['cow'],
  elephant: ['elephant'], bear: ['bear'], zebra: ['zebra'], giraffe: ['giraffe'],
  // things
  bottle: ['bottle'], 'wine glass': ['wine glass'], glass: ['wine glass', 'cup'], cup: ['cup'], mug: ['cup'],
  chair: ['chair'], seat: ['chair'], stool: ['chair'], couch: ['couch'], sofa: ['couch'], bench: ['bench'],
  bed: ['bed'], table: ['dining table'], 'dining table': ['dining table'], desk: ['dining table'],
  tv: ['tv'], television: ['tv'], monitor: ['tv'], screen: ['tv'], laptop: ['laptop'], notebook: ['laptop'],
  computer: ['laptop'], phone: ['cell phone'], 'cell phone': ['cell phone'], smartphone: ['cell phone'],
  mobile: ['cell phone'], cellphone: ['cell phone'], mouse: ['mouse'], keyboard: ['keyboard'], remote: ['remote'],
  book: ['book'], clock: ['clock'], watch: ['clock'], vase: ['vase'], scissors: ['scissors'],
  'teddy bear': ['teddy bear'], teddy: ['teddy bear'], toy: ['teddy bear'], 'hair drier': ['hair drier'],
  'hair dryer': ['hair drier'], hairdryer: ['hair drier'], toothbrush: ['toothbrush'], backpack: ['backpack'],
  rucksack: ['backpack'], umbrella: ['umbrella'], handbag: ['handbag'], bag: ['handbag', 'backpack', 'suitcase'],
  purse: ['handbag'], tie: ['tie'], necktie: ['tie'], suitcase: ['suitcase'], luggage: ['suitcase'],
  frisbee: ['frisbee'], skis: ['skis'], ski: ['skis'], snowboard: ['snowboard'], ball: ['sports ball'],
  'sports ball': ['sports ball'], football: ['sports ball'], soccer: ['sports ball'], basketball: ['sports ball'],
  kite: ['kite'], 'baseball bat': ['baseball bat'], bat: ['baseball bat'], 'baseball glove': ['baseball glove'],
  glove: ['baseball glove'], skateboard: ['skateboard'], surfboard: ['surfboard'], 'tennis racket': ['tennis racket'],
  racket: ['tennis racket'], racquet: ['tennis racket'], fork: ['fork'], knife: ['knife'], spoon: ['spoon'],
  bowl: ['bowl'], banana: ['banana'], apple: ['apple'], sandwich: ['sandwich'], burger: ['sandwich'],
  orange: ['orange'], broccoli: ['broccoli'], carrot: ['carrot'], 'hot dog': ['hot dog'], hotdog: ['hot dog'],
  pizza: ['pizza'], donut: ['donut'], doughnut: ['donut'], cake: ['cake'], plant: ['potted plant'],
  'potted plant': ['potted plant'], flower: ['potted plant', 'vase'], houseplant: ['potted plant'],
  toilet: ['toilet'], microwave: ['microwave'], oven: ['oven'], stove: ['oven'], toaster: ['toaster'],
  sink: ['sink'], refrigerator: ['refrigerator'], fridge: ['refrigerator'], 'traffic light': ['traffic light'],
  'fire hydrant': ['fire hydrant'], hydrant: ['fire hydrant'], 'stop sign': ['stop sign'],
  'parking meter': ['parking meter'],
};

for (const c of COCO_LABELS) SYNONYMS[c] ??= [c];

const IRREGULAR: Record<string, string> = { knives: 'knife', mice: 'mouse', geese: 'goose', teeth: 'tooth', buses: 'bus', glasses: 'glass', benches: 'bench', couches: 'couch', boxes: 'box', sandwiches: 'sandwich', watches: 'watch', ponies: 'pony', puppies: 'puppy', babies: 'baby', ladies: 'lady' };

function singular(word: string): string {
  if (SYNONYMS[word]) return word;
  const irregular = IRREGULAR[word];
  if (irregular) return irregular;
  if (word.endsWith('ies') && SYNONYMS[word.slice(0, -3) + 'y']) return word.slice(0, -3) + 'y';
  if (word.endsWith('es') && SYNONYMS[word.slice(0, -2)]) return word.slice(0, -2);
  if (word.endsWith('s') && SYNONYMS[word.slice(0, -1)]) return word.slice(0, -1);
  return word;
}

/** Every word or phrase understood, sorted (for the 422's list). */
export function understoodWords(): string[] {
  return Object.keys(SYNONYMS).sort();
}

/**
 * The COCO classes the text names, or undefined when it names nothing known. Two-word names ("wine glass",
 * "teddy bear") are matched before single words; in "X with Y" / "X and Y" the first named object wins, as the
 * subject of the phrase.
 */
export function classesForText(text: string): CocoClass[] | undefined {
  const words = text
    .toLowerCase()
    .replace(/[^a-z\s-]/g, ' ')
    .replace(/-/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .map(singular);
  for (let i = 0; i < words.length; i++) {
    const pair = i + 1 < words.length ? `${words[i]} ${singular(words[i + 1] as string)}` : undefined;
    if (pair && SYNONYMS[pair]) return [...(SYNONYMS[pair] as CocoClass[])];
    const one = SYNONYMS[words[i] as string];
    // Skip adjectives that are also nouns when a later noun follows directly ("orange car" → car).
    if (one) {
      const next = words[i + 1];
      if (next !== undefined && SYNONYMS[next] && !/^(with|and|or|on|in|of)$/.test(next)) continue;
      return [...one];
    }
  }
  return undefined;
}
