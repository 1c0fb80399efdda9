import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInProcessBus } from './events/bus';
import { createStringTable } from './events/strings';
import { printParleySchema } from './schema';

describe('schema.graphql', () => {
  it('is what the code emits (run `npm run schema:emit` after changing the schema)', async () => {
    const committed = readFileSync(path.resolve(__dirname, '../schema.graphql'), 'utf8');
    expect(await printParleySchema({ pubSub: createInProcessBus(createStringTable()) })).toBe(committed);
  });
});
