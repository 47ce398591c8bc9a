/**
 * Room membership: which connections are in which room. Rooms here exist
 * while they have members; what a room remembers beyond that (seq, log,
 * dedup) belongs to the chat-room plugin.
 */
import type { KeyedStore, KeyedStoreFactory } from '../services/sharded-map/index.js';

/** What the registry needs of a member. */
export interface RoomMember {
  /** Rooms this member is in, kept in step by the registry. */
  readonly rooms: Set<string>;
}

/** Room → members. Members' own `rooms` sets are kept in step. */
export class RoomRegistry<M extends RoomMember = RoomMember> {
  private readonly rooms: KeyedStore<string, Set<M>>;

  /** @param storeFactory keyed-store factory (the sharded-map service) */
  constructor(storeFactory: KeyedStoreFactory) {
    this.rooms = storeFactory<string, Set<M>>();
  }

  /** Rooms with at least one member. */
  get size(): number {
    return this.rooms.size;
  }

  /** @returns true when `member` was not in `room` before */
  join(room: string, member: M): boolean {
    let set = this.rooms.get(room);
    if (!set) this.rooms.set(room, (set = new Set()));
    if (set.has(member)) return false;
    set.add(member);
    member.rooms.add(room);
    return true;
  }

  /** @returns true when `member` was in `room` */
  leave(room: string, member: M): boolean {
    const set = this.rooms.get(room);
    if (!set || !set.delete(member)) return false;
    member.rooms.delete(room);
    if (set.size === 0) this.rooms.delete(room);
    return true;
  }

  /** True when `member` is in `room`. */
  isMember(room: string, member: M): boolean {
    return member.rooms.has(room);
  }

  /** The room's members (live view; do not modify); empty for an unknown room. */
  members(room: string): ReadonlySet<M> {
    return this.rooms.get(room) ?? EMPTY;
  }

  /** Number of members of `room`. */
  memberCount(room: string): number {
    return this.rooms.get(room)?.size ?? 0;
  }

  /** Every room with its member count. */
  *list(): IterableIterator<{ room: string; members: number }> {
    for (const [room, set] of this.rooms.entries()) yield { room, members: set.size };
  }
}

const EMPTY: ReadonlySet<never> = new Set();
