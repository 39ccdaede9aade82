import { HttpException, Logger, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { TokenCheckUnavailable, TokenRejected, TokenVerifier, unauthenticatedCaller } from '@tcc/auth';
import type { AuthSettings, Caller } from '@tcc/auth';

/** Where the app injects the Authenticator. */
export const AUTHENTICATOR = Symbol('authenticator');

/** The part of a reply the authenticator writes to: its headers. */
export interface HeaderReply {
  header(name: string, value: string): unknown;
}

/**
 * The HTTP face of token checks: a caller, or the answer RFC 6750 prescribes. 401 carries
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="..."` and the same
 * description in the body; 403 names the scope missing. No answer repeats the token or a key.
 */
export class Authenticator {
  private readonly log = new Logger('auth');
  private readonly verifier: TokenVerifier | undefined;

  constructor(private readonly settings: AuthSettings) {
    this.verifier = settings.disabled ? undefined : new TokenVerifier(settings);
  }

  get operatorScope(): string {
    return this.settings.operatorScope;
  }

  get disabled(): boolean {
    return this.settings.disabled;
  }

  async authenticate(authorization: string | undefined, reply: HeaderReply): Promise<Caller> {
    if (!this.verifier) return unauthenticatedCaller(this.settings.operatorScope);
    try {
      return await this.verifier.verify(authorization);
    } catch (error) {
      throw this.answer(error, reply);
    }
  }

  /** 403 for a caller without the operator scope. */
  forbidden(reply: HeaderReply): HttpException {
    const scope = this.settings.operatorScope;
    reply.header('WWW-Authenticate', `Bearer realm="tcc-saga", error="insufficient_scope", scope="${scope}"`);
    return new HttpException(
      {
        statusCode: 403,
        error: 'Forbidden',
        message: `this needs the scope "${scope}", which the token does not grant`,
        scope,
      },
      403,
    );
  }

  private answer(error: unknown, reply: HeaderReply): unknown {
    if (error instanceof TokenRejected) {
      reply.header(
        'WWW-Authenticate',
        `Bearer realm="tcc-saga", error="invalid_token", error_description="${headerSafe(error.message)}"`,
      );
      return new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: error.message });
    }
    if (error instanceof TokenCheckUnavailable) {
      this.log.warn({ msg: 'cannot check tokens', reason: error.message, err: error.cause });
      reply.header('Retry-After', '5');
      return new ServiceUnavailableException({
        statusCode: 503,
        error: 'Service Unavailable',
        message: `${error.message}: send the request again later`,
      });
    }
    return error;
  }
}

/** error_description allows printable ASCII but `"` and `\` (RFC 6750, section 3). */
function headerSafe(text: string): string {
  return text.replace(/[‘’]/g, "'").replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}
