import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Res,
  ServiceUnavailableException,
  UnprocessableEntityException,
  UseGuards,
} from '@nestjs/common';
import { z } from 'zod';
import { ids } from '@tcc/contracts';
import type { Caller } from '@tcc/auth';
import {
  ApiIdempotencyKey,
  ApiJsonBody,
  ApiProblem,
  CallerRateLimitGuard,
  CurrentCaller,
  Customers,
  mayRead,
  ZodValidationPipe,
} from '@tcc/service';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { OrderAdmission } from '../application/order-admission';
import { OrderSagaService } from '../application/order-saga.service';
import type { OrderView } from '../application/order-view';

/**
 * What a client may send. Prices are not part of it: they come from the catalog. The customer is
 * the token's subject; `customerId`, when sent, must name the same customer.
 */
export const placeOrderBody = z.strictObject({
  customerId: ids.customerId.optional(),
  lines: z
    .array(z.strictObject({ productId: ids.productId, quantity: z.int().min(1).max(10_000) }))
    .min(1, 'an order needs at least one line')
    .max(50, 'an order has at most 50 lines'),
});
export type PlaceOrderBody = z.infer<typeof placeOrderBody>;

/** The part of the (Fastify) reply the handler needs: its headers. */
interface ReplyHeaders {
  header(name: string, value: string): unknown;
}

const idempotencyKey = z
  .string({ error: 'the Idempotency-Key header is required' })
  .trim()
  .min(1, 'the Idempotency-Key header is required')
  .max(200, 'the Idempotency-Key header is at most 200 characters');

@ApiTags('orders')
@Customers()
@Controller('orders')
export class OrdersController {
  constructor(
    private readonly orders: OrderSagaService,
    private readonly admission: OrderAdmission,
  ) {}

  /**
   * 202 Accepted with the order and its Location: the saga runs on, GET the order to follow it.
   * The same Idempotency-Key with the same body returns the same order; with another body, 422.
   */
  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Place an order; its saga runs on, follow it with GET /orders/:id' })
  @ApiIdempotencyKey()
  @ApiJsonBody(placeOrderBody, 'prices come from the catalog, never from the client')
  @ApiResponse({
    status: 202,
    description: 'accepted (or the same key and body again): the order, status TRYING; Location names it',
  })
  @ApiProblem(403, 'customerId names another customer than the token’s subject')
  @ApiProblem(422, 'the Idempotency-Key was already used with a different body')
  @ApiProblem(429, 'this customer sent too many orders in the last minute: send it again after Retry-After')
  @ApiProblem(
    503,
    'too many orders in progress, or the service too far behind: send it again after Retry-After',
  )
  @UseGuards(CallerRateLimitGuard)
  async place(
    @CurrentCaller() caller: Caller,
    @Headers('idempotency-key') key: string | undefined,
    @Body(new ZodValidationPipe(placeOrderBody)) body: PlaceOrderBody,
    @Res({ passthrough: true }) reply: ReplyHeaders,
  ): Promise<OrderView> {
    const parsedKey = idempotencyKey.safeParse(key);
    if (!parsedKey.success) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: parsedKey.error.issues[0]?.message ?? 'invalid Idempotency-Key header',
      });
    }
    const customerId = customerOf(caller, body.customerId);
    const admission = this.admission.admit();
    if (!admission.admitted) {
      // before placing, so a refused request leaves nothing behind: the same request again is new
      reply.header('Retry-After', '1');
      throw new ServiceUnavailableException({
        statusCode: 503,
        error: 'Service Unavailable',
        message: `${admission.why}: send the order again in a second`,
      });
    }
    const result = await this.orders.place({ customerId, lines: body.lines }, parsedKey.data);
    if (result.kind === 'key-reused') {
      throw new UnprocessableEntityException({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: `Idempotency-Key "${parsedKey.data}" was already used with a different request (order ${result.orderId})`,
        orderId: result.orderId,
      });
    }
    // a new order comes back from the statement that wrote it; a replayed one is read as it is now
    const order = result.kind === 'created' ? result.order : await this.orders.view(result.orderId);
    if (!order) throw new Error(`order ${result.orderId} vanished`);
    reply.header('Location', `/orders/${order.id}`);
    if (result.kind === 'replayed') reply.header('Idempotent-Replayed', 'true');
    return order;
  }

  /** The order with its lines, total, reason when cancelled, and every participant's steps: the customer's own, or any for an operator. */
  @Get(':id')
  @ApiOperation({
    summary: 'The order: status, reason when cancelled, lines with prices, total, and every participant step',
  })
  @ApiParam({ name: 'id', description: 'order id (UUID)' })
  @ApiProblem(400, 'not a UUID')
  @ApiProblem(404, 'no such order (another customer’s order is not found either)')
  async get(
    @CurrentCaller() caller: Caller,
    @Param('id', new ZodValidationPipe(ids.orderId, 'order id')) id: string,
  ): Promise<OrderView> {
    const order = await this.orders.view(id);
    // another customer's order answers as one that does not exist: its id tells nothing
    if (!order || !mayRead(caller, order.customerId))
      throw new NotFoundException(`order ${id} does not exist`);
    return order;
  }
}

/** The customer an order is placed for: the token's subject (the body's, with authentication disabled). */
function customerOf(caller: Caller, named: string | undefined): string {
  if (caller.subject === undefined) {
    if (named === undefined) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'customerId is required while authentication is disabled (AUTH_DISABLED)',
      });
    }
    return named;
  }
  if (!ids.customerId.safeParse(caller.subject).success) {
    throw new ForbiddenException(`the token’s subject is not a customer id: only a customer places orders`);
  }
  if (named !== undefined && named !== caller.subject) {
    throw new ForbiddenException(
      `customerId "${named}" is not the token’s subject: a customer places orders only for themselves`,
    );
  }
  return caller.subject;
}
