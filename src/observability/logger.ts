import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config';

export type { Logger };

/**
 * Structured JSON logs on stdout; human-readable lines in development. The pretty stream runs in
 * this thread (no transport worker), so nothing is left running after `stop()`.
 */
export function createLogger(config: Config): Logger {
  const options: pino.LoggerOptions = {
    level: config.log.level,
    base: { service: 'parley' },
    redact: { paths: ['req.headers.authorization', '*.password', '*.token'], censor: '[redacted]' },
  };
  return config.log.pretty
    ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }))
    : pino(options);
}
