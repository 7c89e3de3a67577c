// services/: one file per proto service, each handler decode -> core call -> encode.
// Imports src/core, src/gen, src/wire, codec/ and runtime/ (test/architecture/walls.test.ts).
import {
  create,
  createRegistry,
  type DescFile,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type Registry,
  toBinary,
} from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ServiceImpl } from '@connectrpc/connect';
// Not through ./proto.js: v1 and v1alpha export the same names, so they cannot share its
// `export *`; only this module needs them.
import {
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
  ServerReflection as ServerReflectionV1,
} from '../../gen/grpc/reflection/v1/reflection_pb.js';
import {
  ServerReflection as ServerReflectionV1alpha,
  ServerReflectionRequestSchema as V1alphaRequestSchema,
  ServerReflectionResponseSchema as V1alphaResponseSchema,
} from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

export { ServerReflectionV1, ServerReflectionV1alpha };

export interface ReflectionOptions {
  /**
   * The services to announce and describe, read at call time: pass
   * `() => router.handlers.map((h) => h.service)` and reflection always matches what is served.
   */
  readonly services: () => Iterable<DescService>;
}

export interface ReflectionServices {
  readonly v1: ServiceImpl<typeof ServerReflectionV1>;
  /** The deprecated v1alpha, which older grpcurl, Postman and Evans still ask for. */
  readonly v1alpha: ServiceImpl<typeof ServerReflectionV1alpha>;
}

/** What the served services need: their files and every file those import, by proto file name. */
interface Catalog {
  readonly serviceNames: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  readonly registry: Registry;
}

function buildCatalog(services: readonly DescService[]): Catalog {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dep of file.dependencies) add(dep);
  };
  for (const service of services) add(service.file);
  return {
    serviceNames: [...new Set(services.map((s) => s.typeName))],
    files,
    registry: createRegistry(...files.values()),
  };
}

/**
 * The file first (grpcurl and other protoreflect-based clients take the first descriptor as the
 * answer), then all of its transitive imports. Each answer is complete on its own even though the
 * protocol allows leaving out files sent earlier on the stream: it costs a few kilobytes, and
 * clients that resolve each answer separately keep working.
 */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dep of f.dependencies) visit(dep);
  };
  visit(file);
  return out;
}

/** The file declaring a symbol: a message, enum, service or extension (nested too), or a method. */
function fileContainingSymbol(catalog: Catalog, symbol: string): DescFile | undefined {
  const desc = catalog.registry.get(symbol);
  if (desc !== undefined) return desc.file;
  const dot = symbol.lastIndexOf('.');
  if (dot < 0) return undefined;
  const service = catalog.registry.getService(symbol.slice(0, dot));
  const method = symbol.slice(dot + 1);
  return service?.methods.some((m) => m.name === method) ? service.file : undefined;
}

type Answer = NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>['messageResponse']>;

const error = (code: Code, message: string): Answer => ({
  case: 'errorResponse',
  value: { errorCode: code, errorMessage: message },
});

const files = (file: DescFile | undefined, notFound: string): Answer =>
  file === undefined
    ? error(Code.NotFound, notFound)
    : {
        case: 'fileDescriptorResponse',
        value: { fileDescriptorProto: withDependencies(file) },
      };

function answer(catalog: Catalog, request: ServerReflectionRequest['messageRequest']): Answer {
  switch (request.case) {
    case 'listServices':
      return {
        case: 'listServicesResponse',
        value: { service: catalog.serviceNames.map((name) => ({ name })) },
      };
    case 'fileByFilename':
      return files(catalog.files.get(request.value), `file ${request.value} not found`);
    case 'fileContainingSymbol':
      return files(fileContainingSymbol(catalog, request.value), `symbol ${request.value} not found`);
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = request.value;
      const extendee = catalog.registry.getMessage(containingType);
      const extension =
        extendee === undefined ? undefined : catalog.registry.getExtensionFor(extendee, extensionNumber);
      return files(extension?.file, `extension ${extensionNumber} of ${containingType} not found`);
    }
    case 'allExtensionNumbersOfType': {
      const type = request.value;
      if (catalog.registry.getMessage(type) === undefined)
        return error(Code.NotFound, `message type ${type} not found`);
      const numbers: number[] = [];
      for (const desc of catalog.registry)
        if (desc.kind === 'extension' && desc.extendee.typeName === type) numbers.push(desc.number);
      return {
        case: 'allExtensionNumbersResponse',
        value: { baseTypeName: type, extensionNumber: numbers },
      };
    }
    default:
      return error(Code.InvalidArgument, 'the request asks nothing (message_request is not set)');
  }
}

/**
 * gRPC server reflection, which grpcurl, grpcui, Postman, Evans and `buf curl` use to discover
 * services and fetch their descriptors at runtime. Built from the generated descriptors (the
 * same FileDescriptorProtos the code was generated from, options included, comments not).
 * Requests are answered one by one, in order; a request that cannot be answered gets an
 * error_response and the stream goes on.
 */
export function createReflectionServices(options: ReflectionOptions): ReflectionServices {
  let cached: { key: string; catalog: Catalog } | undefined;
  const catalog = (): Catalog => {
    const services = [...options.services()];
    const key = services.map((s) => s.typeName).join(',');
    if (cached?.key !== key) cached = { key, catalog: buildCatalog(services) };
    return cached.catalog;
  };

  const respond = (request: ServerReflectionRequest): ServerReflectionResponse =>
    create(ServerReflectionResponseSchema, {
      validHost: request.host,
      originalRequest: request,
      messageResponse: answer(catalog(), request.messageRequest),
    });

  return {
    v1: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) yield respond(request);
      },
    },
    v1alpha: {
      // v1 is v1alpha renamed, field for field: translating through the wire format keeps a single
      // implementation and is exact.
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(V1alphaRequestSchema, request));
          yield fromBinary(V1alphaResponseSchema, toBinary(ServerReflectionResponseSchema, respond(v1)));
        }
      },
    },
  };
}
