import { runSeed } from '@tcc/service';

/** Demo wallets for ./dev up, in points (minor units). */
const wallets = [
  { customerId: 'demo-customer', balance: 100_000 },
  { customerId: 'demo-short-of-points', balance: 1_000 },
];

void runSeed(
  'payment',
  wallets.map((w) => ({
    sql: `INSERT INTO wallets (customer_id, balance, held, captured, topped_up_total)
          VALUES ($1, $2, 0, 0, $2) ON CONFLICT (customer_id) DO NOTHING`,
    params: [w.customerId, w.balance],
  })),
);
