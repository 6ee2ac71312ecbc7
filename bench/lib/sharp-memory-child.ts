// Child process for the memory comparison: plain sharp in a fresh Node process, doing what the server does
// for one large JPEG (bytes in memory → resize → JPEG in memory), so its peak RSS can be compared with the
// server's. Prints one JSON line (a PeakReading).
//   node --import tsx bench/lib/sharp-memory-child.ts <warm.jpg> <big.jpg> <width> <quality> <progressive> <mozjpeg>
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { measurePeak } from './peak.js';

const [warmPath, bigPath, width, quality, progressive, mozjpeg] = process.argv.slice(2);
if (!warmPath || !bigPath || !width || !quality || !progressive || !mozjpeg) {
  throw new Error('usage: sharp-memory-child.ts <warm.jpg> <big.jpg> <width> <quality> <progressive> <mozjpeg>');
}
const jpeg = { quality: Number(quality), progressive: progressive === 'true', mozjpeg: mozjpeg === 'true' };
const resize = async (path: string): Promise<void> => {
  // Read inside the measured step: the server holds the fetched bytes during its request too.
  const out = await sharp(readFileSync(path)).resize({ width: Number(width) }).jpeg(jpeg).toBuffer();
  if (out.length === 0) throw new Error('empty output');
};
const reading = await measurePeak('self', () => resize(warmPath), () => resize(bigPath));
process.stdout.write(`${JSON.stringify(reading)}\n`);
