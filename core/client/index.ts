/** The client library: connect to a controller and drive its engines through views. */
export { Client, type ConnectOptions, type ConnectionState, type EngineChange, type EngineSetOptions, type OkReply, type ReplyOf, type StatusReport, type TaskEventBatch } from './client.js';
export {
  DirectView,
  type CallOptions,
  type ExecuteOptions,
  type ExecuteResult,
  type ParallelFunction,
  type PerEngine,
  type RemoteFunction,
  type Returned,
  type ViewResult,
} from './directView.js';
export { LoadBalancedView, type BalancedFlags, type Dependency, type ImapOptions, type MapOptions } from './loadBalancedView.js';
export { MapResult } from './mapResult.js';
export { wasShutDown } from './shutDown.js';
export { ImapIterator } from './imap.js';
export { AsyncResult, type Disposable, type EngineOutcome, type OutputEvent, type SlotMetadata, type StreamName } from './asyncResult.js';
export { AbortError, CompositeError, ConnectionError, ControllerError, EngineError, ImpossibleDependency, MessageTooLargeError, RemoteError, TaskTimeout, TimeoutError, UnmetDependency } from './errors.js';
export { requireModules, type RemoteFn } from './remoteFunction.js';
export { blockSizes, concatenate, partition, type Sequence } from './partition.js';
export type { Targets } from './validate.js';
export type { EngineProfile, EngineStack, ProfileStack, StackFrame } from './engineProbe.js';
export { NDArray, type DType, type TypedArray } from '../serialize/ndarray.js';
export { SerializationError } from '../serialize/serialize.js';
export { ConnectionFileError } from '../connection/connectionFile.js';
