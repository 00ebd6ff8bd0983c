/* A worker thread of `stamp-tree`: stamps the files the main thread sends, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { stampOne, TreeStampOptions } from './stamp-one';
import type { Candidate } from './walk';

interface Job {
  id: number;
  candidate: Candidate;
  xattrs?: string | null;
}

const opts = workerData as TreeStampOptions;
parentPort!.on('message', (job: Job) => {
  parentPort!.postMessage({ id: job.id, report: stampOne(job.candidate, opts, job.xattrs) });
});
