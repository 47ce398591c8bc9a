export type { AppendInput, AppendResult, ChatEnvelope, MaybePromise, RangeResult, RoomEngine, RoomInfo, RoomListener } from './contract.js';
export { MemoryRoomEngine, type MemoryEngineOptions } from './memory.js';
export { DEDUP_MAX_IDS, DEDUP_TTL_MS } from './room-log.js';
