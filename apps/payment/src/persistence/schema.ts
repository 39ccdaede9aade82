import { BatchGuard1763820000000 } from '@tcc/database';
import {
  Outbox1763750000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
} from '@tcc/outbox';
import { TopUpEntity } from './top-up.entity';
import { WalletEntity } from './wallet.entity';
import { Wallets1763740000000 } from './migrations/1763740000000-wallets';
import { Holds1763760000000 } from './migrations/1763760000000-holds';
import { TopUps1763770000000 } from './migrations/1763770000000-top-ups';
import { FewerIndexes1763880000000 } from './migrations/1763880000000-fewer-indexes';

/** Every entity and migration of the payment database, in one place for the app and the migrate command. */
export const paymentEntities = [WalletEntity, TopUpEntity];
export const paymentMigrations = [
  Wallets1763740000000,
  Outbox1763750000000,
  Holds1763760000000,
  TopUps1763770000000,
  BatchGuard1763820000000,
  FewerIndexes1763880000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
];
