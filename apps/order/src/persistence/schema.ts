import { BatchGuard1763820000000 } from '@tcc/database';
import {
  Outbox1763750000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
} from '@tcc/outbox';
import { Orders1763740000000 } from './migrations/1763740000000-orders';
import { Saga1763760000000 } from './migrations/1763760000000-saga';
import { Trace1763780000000 } from './migrations/1763780000000-trace';
import { Version1763800000000 } from './migrations/1763800000000-version';
import { TimelineUnchecked1763840000000 } from './migrations/1763840000000-timeline-unchecked';
import { AppliedReplies1763860000000 } from './migrations/1763860000000-applied-replies';
import { FewerIndexes1763880000000 } from './migrations/1763880000000-fewer-indexes';
import { RoomForUpdates1763900000000 } from './migrations/1763900000000-room-for-updates';
import { IdempotencyPerCustomer1764000000000 } from './migrations/1764000000000-idempotency-per-customer';

/**
 * Every migration of the order database, in one place for the app and the migrate command: the
 * schema's truth. The service has no TypeORM entities; its statements are in order.sql.ts.
 */
export const orderMigrations = [
  Orders1763740000000,
  Outbox1763750000000,
  Saga1763760000000,
  Trace1763780000000,
  Version1763800000000,
  BatchGuard1763820000000,
  TimelineUnchecked1763840000000,
  AppliedReplies1763860000000,
  FewerIndexes1763880000000,
  RoomForUpdates1763900000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
  IdempotencyPerCustomer1764000000000,
];
