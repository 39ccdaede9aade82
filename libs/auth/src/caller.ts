/** Who made a request, as its bearer token says. */
export interface Caller {
  /**
   * the token's subject: the customer whose orders, wallet and idempotency keys these are;
   * undefined only when authentication is disabled (AUTH_DISABLED)
   */
  subject: string | undefined;
  /** the scopes the token grants (`scope`, space-separated, or `scp`) */
  scopes: ReadonlySet<string>;
  /** holds the operator scope: may manage products and wallets, and read any order */
  operator: boolean;
}

/** The caller of every request while authentication is disabled: an operator of no customer. */
export function unauthenticatedCaller(operatorScope: string): Caller {
  return { subject: undefined, scopes: new Set([operatorScope]), operator: true };
}
