import { rememberYes } from './remembered';

describe('rememberYes', () => {
  it('remembers a yes, asks again after forget, and does not remember a yes read before a forget that came meanwhile', async () => {
    const answers: (boolean | Promise<boolean>)[] = [true];
    let reads = 0;
    const yes = rememberYes(async () => answers[reads++]);
    expect(await yes.ask('s')).toBe(true);
    expect(await yes.ask('s')).toBe(true);
    expect(reads).toBe(1);

    yes.forget('s');
    let returnYes!: () => void;
    answers.push(new Promise<boolean>((resolve) => (returnYes = () => resolve(true))), false);
    const inFlight = yes.ask('s'); // reads "yes": the revocation has not committed yet...
    yes.forget('s'); // ...and its announcement comes before the read returns
    returnYes();
    expect(await inFlight).toBe(true);
    expect(await yes.ask('s')).toBe(false); // that yes was not remembered: asked again
    expect(reads).toBe(3);
  });
});
