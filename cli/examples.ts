/**
 * A help epilogue of examples, each command on a line of its own and what it does under it:
 * yargs' two-column examples wrap long commands across both columns.
 */
export function examples(list: Array<[string, string]>): string {
  return ['Examples:', ...list.flatMap(([cmd, what]) => [`  ${cmd.replace(/\$0/g, 'elfprefetch')}`, `      ${what}`])].join('\n');
}
