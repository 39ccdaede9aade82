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
import type { Repository } from 'typeorm';
import { z } from 'zod';
import { ids } from '@tcc/contracts';
import { ApiJsonBody, ApiProblem, Operators, Public, ZodValidationPipe } from '@tcc/service';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ProductEntity } from '../persistence/product.entity';

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

function productView({
  id,
  name,
  price,
  available,
  reserved,
  sold,
  stockedTotal,
}: ProductEntity): ProductView {
  return { id, name, price, available, reserved, sold, stockedTotal };
}

/** The catalog: anyone may read a product; operators create and restock them and read reservations. */
@ApiTags('products')
@Controller()
export class ProductsController {
  private readonly products: Repository<ProductEntity>;

  constructor(@InjectDataSource() private readonly db: DataSource) {
    this.products = db.getRepository(ProductEntity);
  }

  @Post('products')
  @Operators()
  @ApiOperation({ summary: 'Create a product with its price (minor units) and quantity' })
  @ApiJsonBody(createProduct)
  @ApiProblem(409, 'a product with this id exists')
  @HttpCode(201)
  async create(
    @Body(new ZodValidationPipe(createProduct)) body: z.infer<typeof createProduct>,
  ): Promise<ProductView> {
    const product = this.products.create({
      id: body.id,
      name: body.name,
      price: body.price,
      available: body.quantity,
      reserved: 0,
      sold: 0,
      stockedTotal: body.quantity,
    });
    // ON CONFLICT DO NOTHING: of two creates of one id, the second finds it taken without an error
    const inserted = await this.products
      .createQueryBuilder()
      .insert()
      .values(product)
      .orIgnore()
      .returning('id')
      .execute();
    if ((inserted.raw as unknown[]).length === 0) {
      throw new ConflictException(`product ${body.id} already exists`);
    }
    return productView(product);
  }

  @Get('products/:id')
  @Public()
  @ApiOperation({ summary: 'A product: price, available, reserved, sold, stocked in total' })
  @ApiProblem(404, 'no such product')
  async get(
    @Param('id', new ZodValidationPipe(ids.productId, 'product id')) id: string,
  ): Promise<ProductView> {
    const product = await this.products.findOneBy({ id });
    if (!product) throw new NotFoundException(`product ${id} does not exist`);
    return productView(product);
  }

  /**
   * Adds stock in place (quantity + n, not a value read before), so concurrent restocks and
   * reservations all count; the row is read back in the same transaction, still locked by the
   * update, as this restock left it.
   */
  @Post('products/:id/restock')
  @Operators()
  @ApiOperation({ summary: 'Add stock; concurrent restocks all count' })
  @ApiJsonBody(restock)
  @ApiProblem(404, 'no such product')
  @HttpCode(200)
  async restock(
    @Param('id', new ZodValidationPipe(ids.productId, 'product id')) id: string,
    @Body(new ZodValidationPipe(restock)) body: z.infer<typeof restock>,
  ): Promise<ProductView> {
    const product = await this.db.transaction(async (m) => {
      const { affected } = await m
        .createQueryBuilder()
        .update(ProductEntity)
        .set({
          available: () => 'available + :quantity',
          stockedTotal: () => 'stocked_total + :quantity',
        })
        .where('id = :id', { id, quantity: body.quantity })
        .execute();
      return affected ? m.findOneByOrFail(ProductEntity, { id }) : undefined;
    });
    if (!product) throw new NotFoundException(`product ${id} does not exist`);
    return productView(product);
  }

  /** The reservations (TCC fence records) of one order: the participant's table, read as it is (no entity). */
  @Get('reservations')
  @Operators()
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
