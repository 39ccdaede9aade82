import { createParamDecorator } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import type { Caller } from '@tcc/auth';
import type { AuthenticatedRequest } from './bearer-auth.guard';

/** The caller BearerAuthGuard established for this request (a route that is not @Public()). */
export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const caller = context.switchToHttp().getRequest<AuthenticatedRequest>().caller;
  if (!caller) throw new Error('no caller: @CurrentCaller() on a @Public() route');
  return caller;
});

/** Whether `caller` may see what belongs to `customerId`: it is theirs, or they are an operator. */
export function mayRead(caller: Caller, customerId: string): boolean {
  return caller.operator || caller.subject === customerId;
}
