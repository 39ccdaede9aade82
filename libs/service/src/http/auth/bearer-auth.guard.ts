import { Inject, Injectable } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Caller } from '@tcc/auth';
import { ACCESS } from './access';
import type { Access } from './access';
import { AUTHENTICATOR, Authenticator } from './authenticator';
import type { HeaderReply } from './authenticator';

/** A request once its caller is known. */
export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  caller?: Caller;
}

/**
 * The global guard of every HTTP route (registered by AuthModule): checks the bearer token unless
 * the route is @Public(), keeps the caller on the request for @CurrentCaller(), and refuses a
 * non-operator on an @Operators() route. Kafka handlers are not HTTP and pass untouched: what may
 * reach them is the broker's ACLs' business.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const access =
      this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'customer';
    if (access === 'public') return true;
    const http = context.switchToHttp();
    const request = http.getRequest<AuthenticatedRequest>();
    const reply = http.getResponse<HeaderReply>();
    const authorization = request.headers['authorization'];
    const caller = await this.auth.authenticate(
      Array.isArray(authorization) ? authorization.join(',') : authorization,
      reply,
    );
    request.caller = caller;
    if (access === 'operator' && !caller.operator) throw this.auth.forbidden(reply);
    return true;
  }
}
