import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  CoordinatorMessage,
  CoordinatorMessageSchema,
  WorkerMessageSchema,
} from '../../src/gen/coord/v1/worker_pb.js';

/** The Session's messages as specs write them (init shapes) and read them (one case of the oneof). */
export type WorkerMessageInit = MessageInitShape<typeof WorkerMessageSchema>;
export type CoordinatorMessageInit = MessageInitShape<typeof CoordinatorMessageSchema>;
export type CoordinatorCase = NonNullable<CoordinatorMessage['kind']['case']>;
export type CoordinatorValue<K extends CoordinatorCase> = Extract<
  CoordinatorMessage['kind'],
  { case: K }
>['value'];
