import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { authSettings } from '@tcc/auth';
import type { AuthConfig } from '@tcc/config';
import { AUTHENTICATOR, Authenticator } from './authenticator';
import { BearerAuthGuard } from './bearer-auth.guard';

/**
 * Bearer tokens on every HTTP route of the service (BearerAuthGuard, global). Built from the
 * AUTH_* settings; a service whose settings give no way to check tokens does not start (a
 * ConfigError naming what to set), unless AUTH_DISABLED=true.
 */
@Module({})
export class AuthModule {
  static forRoot(config: AuthConfig): DynamicModule {
    const authenticator = new Authenticator(authSettings(config));
    return {
      module: AuthModule,
      global: true,
      providers: [
        { provide: AUTHENTICATOR, useValue: authenticator },
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
      exports: [AUTHENTICATOR],
    };
  }
}
