import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInProcessBus } from '../src/events/bus';
import { createStringTable } from '../src/events/strings';
import { printParleySchema } from '../src/schema';

const target = path.resolve(__dirname, '../../schema.graphql');
printParleySchema({ pubSub: createInProcessBus(createStringTable()) }).then(
  (sdl) => {
    writeFileSync(target, sdl);
    console.log(`wrote ${target}`);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
