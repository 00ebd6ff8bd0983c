/** The seeded generator the fuzzer uses (mulberry32), so a failing random case can be replayed from its seed. */
export { prng } from '../../fuzz/mutate';
