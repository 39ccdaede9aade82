import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiProblem } from '../api-docs';

/*
 * Who may call a route. Every route needs a valid bearer token unless it says otherwise:
 *   @Public()     anyone, no token (health, catalog reads)
 *   (nothing)     any authenticated caller; the handler decides what is theirs (@CurrentCaller)
 *   @Operators()  a caller whose token grants the operator scope
 */
export type Access = 'public' | 'customer' | 'operator';

export const ACCESS = 'tcc:access';

export const Public = () => SetMetadata(ACCESS, 'public' satisfies Access);

/** A route for any caller with a valid token. */
export const Customers = () =>
  applyDecorators(
    SetMetadata(ACCESS, 'customer' satisfies Access),
    ApiBearerAuth(),
    ApiProblem(401, 'no token, or one that is malformed, expired, wrongly signed or not for this service'),
  );

/** A route for operators only: their token grants the operator scope (AUTH_OPERATOR_SCOPE). */
export const Operators = () =>
  applyDecorators(
    SetMetadata(ACCESS, 'operator' satisfies Access),
    ApiBearerAuth(),
    ApiProblem(401, 'no token, or one that is malformed, expired, wrongly signed or not for this service'),
    ApiProblem(403, 'the token does not grant the operator scope'),
  );
