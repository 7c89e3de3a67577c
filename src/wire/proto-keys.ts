/**
 * Makes `object['__proto__'] = value` an ordinary property write in this process, as
 * `node --disable-proto=delete` does: removes Object.prototype's `__proto__` accessor.
 *
 * Why: protobuf-es builds Struct fields, maps and JSON output by assignment, so a `__proto__`
 * key in task metadata or a result (a JSON key like any other, and an own property once
 * JSON.parse has read it) would set that object's prototype instead: the key lost, silently, on
 * every decode and encode, and the object inheriting whatever the sender chose. Without the
 * accessor the key is a key, and nothing can set a prototype by writing one. `{ __proto__: x }`
 * in an object literal and Object.getPrototypeOf/setPrototypeOf are unaffected. `baton serve`
 * does this to itself; a program of its own (an SDK worker whose tasks carry such keys) may
 * call it, or run node with `--disable-proto=delete`.
 */
export function keepProtoKeysAsData(): void {
  Reflect.deleteProperty(Object.prototype, '__proto__');
}
