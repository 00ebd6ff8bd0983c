import t from 'tap';
import { decodeNote, encodeNote } from '../src/note/codec';
import { crc32 } from '../src/note/crc32';
import * as F from '../src/note/format';

// The worked example of docs/FORMAT.md section 7, byte for byte.
t.test('the FORMAT.md example encodes to the documented bytes', async (t) => {
  const desc = encodeNote({
    version: 1,
    pageShift: 12,
    empty: false,
    objects: [{ path: '', buildId: new Uint8Array(20).fill(0xab), layoutDigest: 0x1122n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: 100, runs: [{ first: 0, count: 4 }] }] }],
  });
  const hex = Buffer.from(desc).toString('hex');
  t.equal(desc.length, 136);
  t.equal(hex.slice(0, 16), '0100180088000000', 'version, header size, used size');
  t.equal(hex.slice(24, 48), '0c00020001000000' + '00000000', 'page shift, flags, record count, object count, reserved');
  t.equal(hex.slice(48, 64), '0100000040000000', 'OBJECT record header');
  t.equal(hex.slice(48 + 16 + 80, 48 + 16 + 88), '14000000', 'build-id length 20, path length 0');
  const pages = hex.slice(2 * (24 + 8 + 64));
  t.equal(pages, '0200000020000000' + '01070000' + '64000000' + '04000000' + Buffer.from('default\0').toString('hex') + '01000000' + '00000000' + '04000000');
  const zeroed = Uint8Array.from(desc);
  zeroed.fill(0, F.H_CRC32, F.H_CRC32 + 4);
  t.equal(Buffer.from(desc).readUInt32LE(F.H_CRC32), crc32(zeroed), 'checksum over the descriptor with its field zeroed');
  t.same(decodeNote(desc).objects[0]!.pageSets[0]!.runs, [{ first: 0, count: 4 }]);
});

t.test('CRC-32 is the zlib one', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});
