import { WalletEntity } from './wallet.entity';
import { Wallets1763740000000 } from './migrations/1763740000000-wallets';

/** Every entity and migration of the payment database, in one place for the app and the migrate command. */
export const paymentEntities = [WalletEntity];
export const paymentMigrations = [Wallets1763740000000];
