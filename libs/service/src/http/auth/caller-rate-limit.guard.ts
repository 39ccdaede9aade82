import { HttpException, Inject, Injectable } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type {} from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthenticatedRequest } from './bearer-auth.guard';
import type { HeaderReply } from './authenticator';

/** Where a module gives CallerRateLimitGuard its limit. */
export const CALLER_RATE_LIMIT = Symbol('caller rate limit');

export interface CallerRateLimit {
  /** requests one caller may make per window on the guarded routes; 0 turns the limit off */
  max: number;
  windowMs: number;
  /** what the limited requests are, for the 429's message ("orders") */
  what: string;
}

type Check = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * A per-caller limit on a route (@UseGuards(CallerRateLimitGuard)), counted by @fastify/rate-limit
 * in this instance's memory: the key is the token's subject, so it runs after BearerAuthGuard
 * (the global guard runs first) and a caller cannot spend another's allowance. Over the limit:
 * 429 with Retry-After. With several instances behind a balancer each counts its own share.
 */
@Injectable()
export class CallerRateLimitGuard implements CanActivate {
  private check: Check | undefined;

  constructor(
    private readonly adapter: HttpAdapterHost,
    @Inject(CALLER_RATE_LIMIT) private readonly limit: CallerRateLimit,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.limit.max === 0) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
    this.check ??= this.adapter.httpAdapter.getInstance<FastifyInstance>().createRateLimit({
      max: this.limit.max,
      timeWindow: this.limit.windowMs,
      keyGenerator: callerKey,
    });
    const result = await this.check(request);
    if (result.isAllowed || !result.isExceeded) return true;
    context.switchToHttp().getResponse<HeaderReply>().header('Retry-After', String(result.ttlInSeconds));
    throw new HttpException(
      {
        statusCode: 429,
        error: 'Too Many Requests',
        message: `at most ${result.max} ${this.limit.what} per ${result.timeWindow / 1000} s per customer: send it again after ${result.ttlInSeconds} s`,
      },
      429,
    );
  }
}

/** The caller's subject; where authentication is disabled, the client's address. */
function callerKey(request: FastifyRequest & AuthenticatedRequest): string {
  const subject = request.caller?.subject;
  return subject === undefined ? `ip:${request.ip}` : `sub:${subject}`;
}
