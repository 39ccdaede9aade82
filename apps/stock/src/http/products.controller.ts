import {
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { ids } from '@tcc/contracts';
import { ApiJsonBody, ApiProblem, ZodValidationPipe } from '@tcc/service';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';

const createProduct = z.object({
  id: ids.productId,
  name: z.string().min(1).max(200),
  /** minor units */
  price: ids.amount,
  quantity: z.int().nonnegative().max(1_000_000_000),
});
const restock = z.object({ quantity: z.int().positive().max(1_000_000_000) });
const reservationQuery = z.object({ orderId: ids.orderId });

export interface ProductView {
  id: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
  sold: number;
  stockedTotal: number;
}

const productColumns = `id, name, price::float8 AS price, available, reserved, sold, stocked_total AS "stockedTotal"`;

/** Operators' and tests' view of the catalog: create, restock, read. */
@ApiTags('products')
@Controller()
export class ProductsController {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  @Post('products')
  @ApiOperation({ summary: 'Create a product with its price (minor units) and quantity' })
  @ApiJsonBody(createProduct)
  @ApiProblem(409, 'a product with this id exists')
  @HttpCode(201)
  async create(
    @Body(new ZodValidationPipe(createProduct)) body: z.infer<typeof createProduct>,
  ): Promise<ProductView> {
    const rows = await this.db.query<ProductView[]>(
      `INSERT INTO products (id, name, price, available, reserved, sold, stocked_total)
       VALUES ($1, $2, $3, $4, 0, 0, $4) ON CONFLICT (id) DO NOTHING RETURNING ${productColumns}`,
      [body.id, body.name, body.price, body.quantity],
    );
    if (!rows[0]) throw new ConflictException(`product ${body.id} already exists`);
    return rows[0];
  }

  @Get('products/:id')
  @ApiOperation({ summary: 'A product: price, available, reserved, sold, stocked in total' })
  @ApiProblem(404, 'no such product')
  async get(
    @Param('id', new ZodValidationPipe(ids.productId, 'product id')) id: string,
  ): Promise<ProductView> {
    const rows = await this.db.query<ProductView[]>(`SELECT ${productColumns} FROM products WHERE id = $1`, [
      id,
    ]);
    if (!rows[0]) throw new NotFoundException(`product ${id} does not exist`);
    return rows[0];
  }

  /** Adds stock; concurrent restocks all count (one atomic UPDATE each). */
  @Post('products/:id/restock')
  @ApiOperation({ summary: 'Add stock; concurrent restocks all count' })
  @ApiJsonBody(restock)
  @ApiProblem(404, 'no such product')
  @HttpCode(200)
  async restock(
    @Param('id', new ZodValidationPipe(ids.productId, 'product id')) id: string,
    @Body(new ZodValidationPipe(restock)) body: z.infer<typeof restock>,
  ): Promise<ProductView> {
    const [rows] = await this.db.query<[ProductView[], number]>(
      `UPDATE products SET available = available + $2, stocked_total = stocked_total + $2, updated_at = now()
        WHERE id = $1 RETURNING ${productColumns}`,
      [id, body.quantity],
    );
    if (!rows[0]) throw new NotFoundException(`product ${id} does not exist`);
    return rows[0];
  }

  /** The reservations (TCC fence records) of one order. */
  @Get('reservations')
  @ApiOperation({ summary: 'The reservations (TCC fence records) of one order' })
  @ApiQuery({ name: 'orderId', description: 'order id (UUID)' })
  async reservations(
    @Query(new ZodValidationPipe(reservationQuery, 'query')) query: z.infer<typeof reservationQuery>,
  ): Promise<unknown[]> {
    return this.db.query<unknown[]>(
      `SELECT order_id AS "orderId", product_id AS "productId", quantity, unit_price::float8 AS "unitPrice",
              status, reason, expires_at AS "expiresAt", created_at AS "createdAt", updated_at AS "updatedAt"
         FROM reservations WHERE order_id = $1 ORDER BY product_id`,
      [query.orderId],
    );
  }
}
