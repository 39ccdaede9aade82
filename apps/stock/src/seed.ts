import { runSeed } from '@tcc/service';

/** Demo catalog for ./dev up; prices in minor units. */
const products = [
  { id: 'demo-keyboard', name: 'Mechanical keyboard', price: 8900, quantity: 100 },
  { id: 'demo-mouse', name: 'Wireless mouse', price: 2900, quantity: 200 },
  { id: 'demo-last-item', name: 'Limited edition print (one left)', price: 15000, quantity: 1 },
];

void runSeed(
  'stock',
  products.map((p) => ({
    sql: `INSERT INTO products (id, name, price, available, reserved, sold, stocked_total)
          VALUES ($1, $2, $3, $4, 0, 0, $4) ON CONFLICT (id) DO NOTHING`,
    params: [p.id, p.name, p.price, p.quantity],
  })),
);
