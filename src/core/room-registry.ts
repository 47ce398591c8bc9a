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
  /**
   * The member gets room broadcasts by a transport-level publish to the
   * room (`ws_fanout=publish`), not frame by frame. Fixed before its first
   * join; cleared only through `unpublish`.
   */
  published?: boolean;
}

/** Told when a published member joins or leaves a room, so the transport can subscribe it. */
export interface PublishedMembership<M> {
  joined(room: string, member: M): void;
  left(room: string, member: M): void;
}

/** Room → members. Members' own `rooms` sets are kept in step. */
export class RoomRegistry<M extends RoomMember = RoomMember> {
  private readonly rooms: KeyedStore<string, Set<M>>;
  /** Room → how many of its members are published (absent: none). */
  private readonly published = new Map<string, number>();

  /**
   * @param storeFactory keyed-store factory (the sharded-map service)
   * @param membership told of published members' joins and leaves
   */
  constructor(
    storeFactory: KeyedStoreFactory,
    private readonly membership?: PublishedMembership<M>,
  ) {
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
    if (member.published) {
      this.published.set(room, (this.published.get(room) ?? 0) + 1);
      this.membership?.joined(room, member);
    }
    return true;
  }

  /** @returns true when `member` was in `room` */
  leave(room: string, member: M): boolean {
    const set = this.rooms.get(room);
    if (!set || !set.delete(member)) return false;
    member.rooms.delete(room);
    if (set.size === 0) this.rooms.delete(room);
    if (member.published) {
      this.uncount(room);
      this.membership?.left(room, member);
    }
    return true;
  }

  /**
   * Stops counting `member` as published in its rooms (it is closing: no
   * more room broadcasts reach it), and clears its `published` flag. It
   * stays a member until it leaves.
   */
  unpublish(member: M): void {
    if (!member.published) return;
    member.published = false;
    for (const room of member.rooms) {
      this.uncount(room);
      this.membership?.left(room, member);
    }
  }

  /** Members of `room` that are published to (see RoomMember.published). */
  publishedCount(room: string): number {
    return this.published.get(room) ?? 0;
  }

  private uncount(room: string): void {
    const n = this.published.get(room)! - 1;
    if (n === 0) this.published.delete(room);
    else this.published.set(room, n);
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
