// Opens a sealed bundle with Node's own crypto (OpenSSL), as an independent
// check of keys/src/sealed.rs: HMAC-SHA256 key derivation, XChaCha20 built
// from OpenSSL's ChaCha20 (HChaCha20 is the ChaCha20 block minus its input),
// ChaCha20-Poly1305 with the prefix and KEK id as associated data.
//
//   node open-sealed.mjs <KEK (base64url)> <sealed text>   prints the bundle
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

const [kekText, sealed] = process.argv.slice(2);
const kek = Buffer.from(kekText, 'base64url');
if (kek.length !== 32) throw new Error('the KEK is not 32 bytes');
const derive = (label) => createHmac('sha256', kek).update(label).digest();

const id = derive('signed-headers kek id v1').subarray(0, 6).toString('hex');
const [prefix, version, sealedId, payloadText] = sealed.trim().split('.');
if (prefix !== 'signed-headers-sealed' || version !== 'v1') throw new Error('not v1');
if (sealedId !== id) throw new Error(`sealed under ${sealedId}, not ${id}`);
const payload = Buffer.from(payloadText, 'base64url');
const nonce = payload.subarray(0, 24);
const ciphertext = payload.subarray(24, payload.length - 16);
const tag = payload.subarray(payload.length - 16);
const key = derive('signed-headers seal key v1');

// HChaCha20(key, nonce[0..16]): the block function with the 16 nonce bytes
// where counter and nonce go, without the final addition of the input.
const block = createCipheriv('chacha20', key, nonce.subarray(0, 16)).update(Buffer.alloc(64));
const constants = Buffer.from('expand 32-byte k', 'latin1');
const subkey = Buffer.alloc(32);
for (let word = 0; word < 4; word++) {
  const first = (block.readUInt32LE(word * 4) - constants.readUInt32LE(word * 4)) >>> 0;
  const last = (block.readUInt32LE(48 + word * 4) - nonce.readUInt32LE(word * 4)) >>> 0;
  subkey.writeUInt32LE(first, word * 4);
  subkey.writeUInt32LE(last, 16 + word * 4);
}
const ietfNonce = Buffer.concat([Buffer.alloc(4), nonce.subarray(16, 24)]);
const decipher = createDecipheriv('chacha20-poly1305', subkey, ietfNonce, { authTagLength: 16 });
decipher.setAAD(Buffer.from(`signed-headers-sealed.v1.${id}`, 'latin1'), {
  plaintextLength: ciphertext.length,
});
decipher.setAuthTag(tag);
const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
// The nonce is HMAC(nonce key, plaintext): deterministic sealing.
const expectedNonce = createHmac('sha256', derive('signed-headers seal nonce v1'))
  .update(plaintext)
  .digest()
  .subarray(0, 24);
if (!expectedNonce.equals(nonce)) throw new Error('the nonce is not HMAC(nonce key, bundle)');
process.stdout.write(plaintext);
