import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import type { MethodDefinition } from 'nice-grpc';

type MethodKind = GenServiceMethods[string]['methodKind'];
type RequestStream<K extends MethodKind> = K extends 'client_streaming' | 'bidi_streaming' ? true : false;
type ResponseStream<K extends MethodKind> = K extends 'server_streaming' | 'bidi_streaming' ? true : false;

/**
 * A nice-grpc service definition for a generated protobuf-es service: requests are init shapes
 * (plain objects), responses full messages. Keys are the methods' local names (`getTask`).
 */
export type NiceDefinition<M extends GenServiceMethods> = {
  [K in keyof M]: MethodDefinition<
    MessageInitShape<M[K]['input']>,
    MessageShape<M[K]['input']>,
    MessageInitShape<M[K]['output']>,
    MessageShape<M[K]['output']>,
    RequestStream<M[K]['methodKind']>,
    ResponseStream<M[K]['methodKind']>
  >;
};

/** The definition of a generated service (`typeof CoordinatorService`). */
export type NiceDefinitionOf<S> = S extends GenService<infer M> ? NiceDefinition<M> : never;

const codec = <D extends DescMessage>(schema: D) => ({
  serialize: (value: MessageInitShape<D>): Uint8Array => toBinary(schema, create(schema, value)),
  deserialize: (bytes: Uint8Array): MessageShape<D> => fromBinary(schema, bytes),
});

const IDEMPOTENCY: Partial<Record<MethodOptions_IdempotencyLevel, 'IDEMPOTENT' | 'NO_SIDE_EFFECTS'>> = {
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: 'NO_SIDE_EFFECTS',
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: 'IDEMPOTENT',
};

/**
 * Builds the nice-grpc (grpc-js) definition of a service from its generated descriptor, so the
 * interop tests speak exactly the contract the server was generated from: the path is
 * `/<package>.<Service>/<Method>`, the stream kinds come from the method kind, and messages are
 * (de)serialized by protobuf-es. Test-only: clients of Baton use src/client, which never needs it.
 */
export function niceDefinition<M extends GenServiceMethods>(service: GenService<M>): NiceDefinition<M> {
  const desc: DescService = service;
  const definition: Record<string, MethodDefinition<unknown, unknown, unknown, unknown>> = {};
  for (const method of desc.methods) {
    const input = codec(method.input);
    const output = codec(method.output);
    const level = method.idempotency === undefined ? undefined : IDEMPOTENCY[method.idempotency];
    definition[method.localName] = {
      path: `/${desc.typeName}/${method.name}`,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: input.serialize as (value: unknown) => Uint8Array,
      requestDeserialize: input.deserialize,
      responseSerialize: output.serialize as (value: unknown) => Uint8Array,
      responseDeserialize: output.deserialize,
      options: level === undefined ? {} : { idempotencyLevel: level },
    };
  }
  return definition as NiceDefinition<M>;
}
