// Draws the 128x128 extension icon (a relay baton on a rounded square) as a PNG, no dependencies.
// Usage: node scripts/make-icon.mjs images/icon.png
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { deflateSync } from 'node:zlib';

const SIZE = 128;
const SAMPLES = 4; // 4x4 supersampling for smooth edges

function inRoundedSquare(x, y, r) {
    const cx = Math.min(Math.max(x, r), SIZE - r);
    const cy = Math.min(Math.max(y, r), SIZE - r);
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function distToSegment(px, py, ax, ay, bx, by) {
    const dx = bx - ax;
    const dy = by - ay;
    const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

// Colours (RGBA).
const BG = [30, 58, 138, 255]; // deep blue
const BATON = [250, 250, 250, 255];
const BAND = [245, 158, 11, 255]; // amber grip bands
const SPARK = [245, 158, 11, 255];

function colourAt(x, y) {
    if (!inRoundedSquare(x, y, 24)) {
        return [0, 0, 0, 0];
    }
    const ax = 34, ay = 94, bx = 94, by = 34; // baton axis, bottom-left to top-right
    const d = distToSegment(x, y, ax, ay, bx, by);
    if (d <= 11) {
        // position along the axis, 0..1
        const t = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2);
        if ((t > 0.2 && t < 0.3) || (t > 0.7 && t < 0.8)) {
            return BAND;
        }
        return BATON;
    }
    if (Math.hypot(x - 100, y - 98) <= 8 || Math.hypot(x - 26, y - 28) <= 5) {
        return SPARK;
    }
    return BG;
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
    raw[y * (SIZE * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < SIZE; x++) {
        const acc = [0, 0, 0, 0];
        for (let sy = 0; sy < SAMPLES; sy++) {
            for (let sx = 0; sx < SAMPLES; sx++) {
                const c = colourAt(x + (sx + 0.5) / SAMPLES, y + (sy + 0.5) / SAMPLES);
                acc[0] += c[0] * c[3];
                acc[1] += c[1] * c[3];
                acc[2] += c[2] * c[3];
                acc[3] += c[3];
            }
        }
        const o = y * (SIZE * 4 + 1) + 1 + x * 4;
        const alpha = acc[3] / (SAMPLES * SAMPLES);
        raw[o] = acc[3] ? Math.round(acc[0] / acc[3]) : 0;
        raw[o + 1] = acc[3] ? Math.round(acc[1] / acc[3]) : 0;
        raw[o + 2] = acc[3] ? Math.round(acc[2] / acc[3]) : 0;
        raw[o + 3] = Math.round(alpha);
    }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) {
        c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return c >>> 0;
});
function crc32(buf) {
    let c = 0xffffffff;
    for (const b of buf) {
        c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    }
    return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
}

const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header[8] = 8; // bit depth
header[9] = 6; // RGBA
const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
]);
const out = process.argv[2] ?? 'images/icon.png';
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, png);
console.log(`wrote ${out} (${png.length} bytes)`);
