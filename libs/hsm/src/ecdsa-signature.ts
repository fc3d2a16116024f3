// ECDSA signature encodings: PKCS#11 CKM_ECDSA returns raw r||s; X.509, TLS and node:crypto's
// default want the DER SEQUENCE{INTEGER r, INTEGER s}. Both directions, strict.
import { HsmError } from './hsm.error';

function derInteger(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const body = value.subarray(start);
  const pad = (body[0] ?? 0) & 0x80 ? 1 : 0;
  const out = Buffer.alloc(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  out.set(body, 2 + pad);
  return out;
}

/** raw r||s (each fieldBytes long) -> DER. */
export function ecdsaRawToDer(raw: Uint8Array, fieldBytes: number): Buffer {
  if (raw.length !== 2 * fieldBytes) throw new HsmError('INVALID_INPUT', `ECDSA raw signature must be ${2 * fieldBytes} bytes`);
  const r = derInteger(raw.subarray(0, fieldBytes));
  const s = derInteger(raw.subarray(fieldBytes));
  const length = r.length + s.length;
  const header = length < 0x80 ? Buffer.from([0x30, length]) : Buffer.from([0x30, 0x81, length]);
  return Buffer.concat([header, r, s]);
}

/** DER -> raw r||s, each left-padded to fieldBytes. */
export function ecdsaDerToRaw(der: Uint8Array, fieldBytes: number): Buffer {
  const bad = (): HsmError => new HsmError('INVALID_INPUT', 'malformed DER ECDSA signature');
  let offset = 0;
  const byte = (): number => {
    const value = der[offset++];
    if (value === undefined) throw bad();
    return value;
  };
  if (byte() !== 0x30) throw bad();
  let length = byte();
  if (length === 0x81) length = byte();
  else if (length > 0x80) throw bad();
  if (offset + length !== der.length) throw bad();
  const out = Buffer.alloc(2 * fieldBytes);
  for (let part = 0; part < 2; part++) {
    if (byte() !== 0x02) throw bad();
    const intLength = byte();
    if (intLength === 0 || intLength > 0x7f || offset + intLength > der.length) throw bad();
    let value = der.subarray(offset, offset + intLength);
    offset += intLength;
    if (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > fieldBytes) throw bad();
    out.set(value, (part + 1) * fieldBytes - value.length);
  }
  if (offset !== der.length) throw bad();
  return out;
}
