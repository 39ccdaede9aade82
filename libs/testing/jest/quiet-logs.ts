import { Logger } from '@nestjs/common';

// Nest's console logger in integration tests only adds noise; TEST_LOGS=1 brings it back.
if (!process.env['TEST_LOGS']) Logger.overrideLogger(false);
