import { readFile } from 'node:fs/promises';
import type { Logger } from '@hvctl/common';
import type { AgentConfig } from '../config.js';

/**
 * The secret values this agent is configured with, so the journal can cut them out of
 * anything a caller sends or an error repeats: today the restic password (the file's
 * content). An unreadable file adds nothing (the backup driver reports it).
 */
export async function configuredSecrets(config: AgentConfig, logger: Logger): Promise<string[]> {
  const files = [config.real?.backup.passwordFile].filter((file): file is string => typeof file === 'string' && file !== '');
  const secrets: string[] = [];
  for (const file of files) {
    try {
      const text = await readFile(file, 'utf8');
      // restic reads the first line; the whole content is redacted too in case it has several.
      secrets.push(text, ...text.split('\n'));
    } catch (error) {
      logger.debug({ err: error, file }, 'secret file not readable; nothing to redact from it');
    }
  }
  return secrets.filter((secret) => secret.trim() !== '');
}
