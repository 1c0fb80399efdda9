import { Presets, SingleBar } from 'cli-progress';

/** One progress bar over every measured step of the run, with the step's name. */
export interface Progress {
  step(label: string): void;
  note(line: string): void;
  stop(): void;
}

export function createProgress(total: number): Progress {
  const interactive = process.stdout.isTTY === true;
  const bar = new SingleBar({ format: ' {bar} {value}/{total} steps, {duration_formatted} | {label}', hideCursor: true }, Presets.shades_classic);
  if (interactive) bar.start(total, 0, { label: 'starting' });
  let done = 0;
  return {
    step(label) {
      done += 1;
      if (interactive) bar.update(done, { label });
      else console.log(`  [${done}/${total}] ${label}`);
    },
    note(line) {
      if (interactive) bar.update(done, { label: line });
      else console.log(`  ${line}`);
    },
    stop() {
      if (interactive) bar.stop();
    },
  };
}
