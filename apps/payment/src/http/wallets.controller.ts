import {
  Body,
  ConflictException,
  Controller,
  createParamDecorator,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Res,
  UnprocessableEntityException,
} from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import { z } from 'zod';
import { ids } from '@tcc/contracts';
import type { Caller } from '@tcc/auth';
import {
  ApiIdempotencyKey,
  ApiJsonBody,
  ApiProblem,
  CurrentCaller,
  Customers,
  mayRead,
  Operators,
  ZodValidationPipe,
} from '@tcc/service';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { WalletsService } from '../wallets/wallets.service';
import type { HoldView, TopUpView, WalletView } from '../wallets/wallets.service';

const createWallet = z.object({
  customerId: ids.customerId,
  /** minor units; counts as the wallet's first top-up */
  balance: ids.amount.default(0),
});
const topUp = z.object({ amount: z.int().positive().max(Number.MAX_SAFE_INTEGER) });
const idempotencyKey = z
  .string()
  .min(1, 'is required')
  .max(200, 'must be at most 200 characters')
  .regex(/\S/, 'must not be blank');

/** The raw Idempotency-Key request header (undefined when absent), for a validation pipe to judge. */
const IdempotencyKey = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): unknown =>
    ctx.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers['idempotency-key'],
);

/** The part of the (Fastify) reply a handler needs to choose 200 or 201. */
interface ReplyStatus {
  code(statusCode: number): unknown;
}

/**
 * The wallets: operators open and top them up and read the holds of orders; a customer reads their
 * own wallet (another customer's answers 404, as if it did not exist).
 */
@ApiTags('wallets')
@Controller()
export class WalletsController {
  constructor(private readonly wallets: WalletsService) {}

  @Post('wallets')
  @Operators()
  @ApiOperation({ summary: 'Open a wallet, optionally with a starting balance' })
  @ApiJsonBody(createWallet)
  @ApiProblem(409, 'the customer has a wallet')
  @HttpCode(201)
  async create(
    @Body(new ZodValidationPipe(createWallet)) body: z.infer<typeof createWallet>,
  ): Promise<WalletView> {
    const wallet = await this.wallets.create(body.customerId, body.balance);
    if (!wallet) throw new ConflictException(`wallet ${body.customerId} already exists`);
    return wallet;
  }

  @Get('wallets/:customerId')
  @Customers()
  @ApiOperation({
    summary:
      'A wallet: balance, held, captured, topped up in total (the customer’s own, or any for an operator)',
  })
  @ApiProblem(404, 'no such wallet (another customer’s wallet is not found either)')
  async get(
    @CurrentCaller() caller: Caller,
    @Param('customerId', new ZodValidationPipe(ids.customerId, 'customer id')) customerId: string,
  ): Promise<WalletView> {
    const wallet = mayRead(caller, customerId) ? await this.wallets.get(customerId) : undefined;
    if (!wallet) throw new NotFoundException(`wallet ${customerId} does not exist`);
    return wallet;
  }

  /**
   * Adds points, once per Idempotency-Key: 201 the first time; 200 with the same answer when the
   * same request comes again under its key; 422 when the key was used for a different request.
   */
  @Post('wallets/:customerId/top-ups')
  @Operators()
  @ApiOperation({ summary: 'Top up; concurrent top-ups all count, a repeated key counts once' })
  @ApiIdempotencyKey()
  @ApiJsonBody(topUp)
  @ApiProblem(404, 'no such wallet')
  @ApiProblem(422, 'the Idempotency-Key was already used with a different request')
  async topUp(
    @Param('customerId', new ZodValidationPipe(ids.customerId, 'customer id')) customerId: string,
    @IdempotencyKey(new ZodValidationPipe(idempotencyKey, 'Idempotency-Key header')) key: string,
    @Body(new ZodValidationPipe(topUp)) body: z.infer<typeof topUp>,
    @Res({ passthrough: true }) reply: ReplyStatus,
  ): Promise<TopUpView> {
    const result = await this.wallets.topUp(key, customerId, body.amount);
    switch (result.kind) {
      case 'applied':
        reply.code(201);
        return result.topUp;
      case 'replayed':
        reply.code(200);
        return result.topUp;
      case 'key-reused':
        throw new UnprocessableEntityException(
          `Idempotency-Key "${key}" was used with a different request (another customer or amount); use a new key`,
        );
      case 'unknown-wallet':
        throw new NotFoundException(`wallet ${customerId} does not exist`);
      case 'too-large':
        throw new UnprocessableEntityException(
          `wallet ${customerId} cannot take ${body.amount} more points: its total would exceed ${Number.MAX_SAFE_INTEGER}`,
        );
    }
  }

  /** The hold (TCC fence record) of one order, with the reply sent for each phase. */
  @Get('holds/:orderId')
  @Operators()
  @ApiOperation({ summary: 'The hold (TCC fence record) of one order' })
  @ApiProblem(404, 'no hold for this order')
  async hold(
    @Param('orderId', new ZodValidationPipe(ids.orderId, 'order id')) orderId: string,
  ): Promise<HoldView> {
    const hold = await this.wallets.hold(orderId);
    if (!hold) throw new NotFoundException(`no hold for order ${orderId}`);
    return hold;
  }
}
