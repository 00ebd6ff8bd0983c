// Worker thread of the fuzzer: checks one input per message (fuzz/check.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { checkInput, Plant } from './check';

const plant: Plant = (workerData?.plant as Plant) ?? 'none';
parentPort!.on('message', (m: { id: number; bytes: Uint8Array }) => {
  const result = checkInput(m.bytes, plant);
  parentPort!.postMessage({ id: m.id, result });
});
