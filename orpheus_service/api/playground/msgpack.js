// A small MessagePack decoder: enough for the service's frames (maps, strings,
// numbers, float arrays, nil, booleans, binary). No dependencies, no build step.
"use strict";

export function decodeMsgpack(buffer) {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  let pos = 0;

  function str(length) {
    const value = text.decode(bytes.subarray(pos, pos + length));
    pos += length;
    return value;
  }
  function bin(length) {
    const value = bytes.slice(pos, pos + length);
    pos += length;
    return value;
  }
  function array(length) {
    const out = new Array(length);
    for (let i = 0; i < length; i++) out[i] = read();
    return out;
  }
  function map(length) {
    const out = {};
    for (let i = 0; i < length; i++) {
      const key = read();
      out[key] = read();
    }
    return out;
  }
  function u8() { const v = view.getUint8(pos); pos += 1; return v; }
  function u16() { const v = view.getUint16(pos); pos += 2; return v; }
  function u32() { const v = view.getUint32(pos); pos += 4; return v; }

  function read() {
    const type = u8();
    if (type <= 0x7f) return type;
    if (type >= 0xe0) return type - 0x100;
    if ((type & 0xf0) === 0x80) return map(type & 0x0f);
    if ((type & 0xf0) === 0x90) return array(type & 0x0f);
    if ((type & 0xe0) === 0xa0) return str(type & 0x1f);
    let v;
    switch (type) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: v = view.getFloat32(pos); pos += 4; return v;
      case 0xcb: v = view.getFloat64(pos); pos += 8; return v;
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: v = Number(view.getBigUint64(pos)); pos += 8; return v;
      case 0xd0: v = view.getInt8(pos); pos += 1; return v;
      case 0xd1: v = view.getInt16(pos); pos += 2; return v;
      case 0xd2: v = view.getInt32(pos); pos += 4; return v;
      case 0xd3: v = Number(view.getBigInt64(pos)); pos += 8; return v;
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default:
        throw new Error("unsupported msgpack type 0x" + type.toString(16));
    }
  }
  return read();
}
