import { BatchGuard1763820000000 } from '@tcc/database';
import {
  Outbox1763750000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
} from '@tcc/outbox';
import { ProductEntity } from './product.entity';
import { Products1763740000000 } from './migrations/1763740000000-products';
import { Reservations1763760000000 } from './migrations/1763760000000-reservations';
import { FewerIndexes1763880000000 } from './migrations/1763880000000-fewer-indexes';

/** Every entity and migration of the stock database, in one place for the app and the migrate command. */
export const stockEntities = [ProductEntity];
export const stockMigrations = [
  Products1763740000000,
  Outbox1763750000000,
  Reservations1763760000000,
  BatchGuard1763820000000,
  FewerIndexes1763880000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
];
