/**
 * The protobuf wire format at its lowest level, for the hand-written codecs of the Session's hot
 * messages (client/session-codec.ts, server/session-codec.ts, server/task-codec.ts), shared by
 * the SDK and the server. protobuf-es's reflective
 * toBinary/fromBinary cost several µs per small message (create, reflection, a writer per nested
 * message); these write into one growing buffer, gRPC envelopes included, and read without
 * reflection. Anything the codecs do not expect makes them hand the message to protobuf-es.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Thrown by a fast codec that meets something it leaves to protobuf-es. */
export class Unsupported extends Error {}
export const unsupported = new Unsupported('leave it to protobuf-es');

export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(size = 512) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** An unsigned varint below 2^32. */
  uint32(value: number): void {
    this.ensure(5);
    const buf = this.buf;
    let v = value >>> 0;
    while (v > 127) {
      buf[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  /** A non-negative varint below 2^53 (uint64/int64 values that fit a number). */
  uint53(value: number): void {
    if (value < 0x1_0000_0000) {
      this.uint32(value);
      return;
    }
    this.ensure(10);
    const buf = this.buf;
    let v = value;
    while (v > 127) {
      buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  tag(field: number, wireType: number): void {
    this.uint32((field << 3) | wireType);
  }

  /** A string field; left out when empty, proto3's default, as protobuf-es leaves it out. */
  stringField(field: number, value: string): void {
    if (value === '') return;
    this.uint32((field << 3) | WIRE_LEN);
    this.string(value);
  }

  /** A uint32 field; left out when 0. */
  uint32Field(field: number, value: number): void {
    if (value === 0) return;
    this.uint32((field << 3) | WIRE_VARINT);
    this.uint32(value);
  }

  /** A bool field; written only when true. */
  boolField(field: number, value: boolean | undefined): void {
    if (value !== true) return;
    this.uint32((field << 3) | WIRE_VARINT);
    this.uint32(1);
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.uint32(value.byteLength);
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }

  string(value: string): void {
    const n = value.length;
    if (n < 43) {
      // At most 126 UTF-8 bytes: a one-byte length; ASCII is copied by hand.
      this.ensure(1 + 3 * n);
      const buf = this.buf;
      const start = this.pos + 1;
      let at = start;
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) {
          at = start + buf.write(value, start, 'utf8');
          break;
        }
        buf[at++] = c;
      }
      buf[this.pos] = at - start;
      this.pos = at;
      return;
    }
    const size = Buffer.byteLength(value, 'utf8');
    this.uint32(size);
    this.ensure(size);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  /** Starts a length-delimited field's body: returns where, for `join`. */
  fork(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends the body started at `at`, writing its length before it (moving it if the length needs more than a byte). */
  join(at: number): void {
    const size = this.pos - at - 1;
    if (size < 128) {
      this.buf[at] = size;
      return;
    }
    let extra = 0;
    for (let v = size >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    let v = size;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[p] = v;
  }

  /** Starts a gRPC envelope (flag byte and 4-byte length): returns where, for `endEnvelope`. */
  startEnvelope(): number {
    this.ensure(5);
    const at = this.pos;
    this.buf[at] = 0;
    this.pos += 5;
    return at;
  }

  endEnvelope(at: number): void {
    this.buf.writeUInt32BE(this.pos - at - 5, at + 1);
  }

  /** Drops everything written since `at` (a message handed to protobuf-es instead). */
  rewind(at: number): void {
    this.pos = at;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** A varint, as protobuf-es reads uint32/int32/enum/bool fields: its low 32 bits. */
  uint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw unsupported;
      const b = buf[this.pos++] as number;
      if (shift < 32) result |= (b & 127) << shift;
      if (b < 128) break;
      shift += 7;
      if (shift > 63) throw unsupported;
    }
    return result >>> 0;
  }

  /** A varint that must fit 2^53 (int64 seconds, uint64 counts); anything else is left to protobuf-es. */
  uint53(): number {
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end || i > 7) throw unsupported;
      const b = buf[this.pos++] as number;
      result += (b & 127) * scale;
      if (b < 128) break;
      scale *= 128;
    }
    if (result > Number.MAX_SAFE_INTEGER) throw unsupported;
    return result;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw unsupported;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, true);
  }

  /** The end of a length-delimited field whose length is next. */
  delimited(): number {
    const size = this.uint32();
    const end = this.pos + size;
    if (end > this.end) throw unsupported;
    return end;
  }

  string(): string {
    const end = this.delimited();
    const buf = this.buf;
    const start = this.pos;
    this.pos = end;
    if (end - start < 32) {
      let s = '';
      for (let i = start; i < end; i++) {
        const c = buf[i] as number;
        if (c >= 0x80) return utf8.decode(buf.subarray(start, end));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8.decode(buf.subarray(start, end));
  }

  /** Skips a field of an expected kind; unknown field numbers make the caller give up instead. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.pos = this.delimited();
        return;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw unsupported;
    }
    if (this.pos > this.end) throw unsupported;
  }
}

const utf8 = new TextDecoder('utf-8');

/**
 * Appends `message` to `w` as one gRPC envelope: written by `write`, a hand encoder that throws
 * `unsupported` for anything it leaves alone, and then by `fallback` (protobuf-es) instead.
 */
export function writeEnvelope<M>(
  w: ProtoWriter,
  message: M,
  write: (w: ProtoWriter, message: M) => void,
  fallback: (message: M) => Uint8Array,
): void {
  const at = w.startEnvelope();
  try {
    write(w, message);
  } catch (error) {
    if (!(error instanceof Unsupported)) throw error;
    w.rewind(at + 5);
    const bytes = fallback(message);
    w.ensure(bytes.byteLength);
    w.buf.set(bytes, w.pos);
    w.pos += bytes.byteLength;
  }
  w.endEnvelope(at);
}

/** Reads `bytes` with a hand decoder; undefined when it leaves the message to protobuf-es. */
function readOrLeave<T>(bytes: Uint8Array, read: (r: ProtoReader) => T): T | undefined {
  try {
    return read(new ProtoReader(bytes));
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

/**
 * Reads, up to `end`, a message that is one oneof of message members (the Session's envelopes
 * and reports): `member(r, field, fieldEnd)` reads the one that is set and must consume it. A
 * second member, or one that is not length-delimited, is left to protobuf-es; `none` when unset.
 */
export function readOneof<K>(
  r: ProtoReader,
  end: number,
  none: K,
  member: (r: ProtoReader, field: number, end: number) => K,
): K {
  let kind: K | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if ((tag & 7) !== WIRE_LEN || kind !== undefined) throw unsupported;
    const fieldEnd = r.delimited();
    kind = member(r, tag >>> 3, fieldEnd);
    if (r.pos !== fieldEnd) throw unsupported;
  }
  return kind ?? none;
}

/**
 * Decodes a Session envelope (a message whose one field is the oneof `kind`, e.g. WorkerMessage,
 * CoordinatorMessage) by hand; undefined when something in it is left to protobuf-es.
 */
export function decodeOneofMessage<M extends { readonly $typeName: string; kind: unknown }>(
  bytes: Uint8Array,
  typeName: M['$typeName'],
  member: (r: ProtoReader, field: number, end: number) => M['kind'],
): M | undefined {
  return readOrLeave(bytes, (r) => {
    const kind = readOneof<M['kind']>(r, r.end, { case: undefined }, member);
    return { $typeName: typeName, kind } as M;
  });
}

/** Reads, up to `end`, a message whose one field is the repeated message field 1. */
export function readRepeated<T>(r: ProtoReader, end: number, read: (r: ProtoReader, end: number) => T): T[] {
  const items: T[] = [];
  while (r.pos < end) {
    if (r.uint32() !== ((1 << 3) | WIRE_LEN)) throw unsupported;
    const itemEnd = r.delimited();
    items.push(read(r, itemEnd));
    if (r.pos !== itemEnd) throw unsupported;
  }
  return items;
}
