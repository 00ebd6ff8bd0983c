import yargs from 'yargs';
import type { CommandModule } from 'yargs';

interface Words {
  name: string;
  /** Options (--long and -s), subcommands, and each option's fixed choices. */
  words: string[];
  sub: string[];
  choices: Record<string, string[]>;
}

/** What each command accepts, read from its own option definitions (so it cannot drift). */
function wordsOf(m: CommandModule<object, never>): Words {
  const name = String(m.command).split(' ')[0]!;
  // getOptions and the command list are yargs internals its types do not declare.
  const y = yargs([]) as unknown as { getOptions(): unknown; getInternalMethods(): { getCommandInstance(): { getCommands(): string[] } } };
  if (typeof m.builder === 'function') (m.builder as (y: unknown) => unknown)(y);
  const o = y.getOptions() as unknown as { key: Record<string, boolean>; alias: Record<string, string[]>; choices: Record<string, string[]> };
  const words = new Set<string>();
  const choices: Record<string, string[]> = {};
  for (const k of Object.keys(o.key)) {
    if (k === 'version') continue;
    for (const n of [k, ...(o.alias[k] ?? [])]) {
      const flag = n.length === 1 ? `-${n}` : `--${n}`;
      words.add(flag);
      if (o.choices[k]) choices[flag] = o.choices[k]!;
    }
  }
  const sub = y.getInternalMethods().getCommandInstance().getCommands();
  return { name, words: [...words], sub, choices };
}

/**
 * A bash completion script (zsh: after `autoload -U +X bashcompinit && bashcompinit`):
 * commands, each command's options, the fixed values of options such as --hook, file names.
 */
export function completionScript(commands: Array<CommandModule<object, never>>, global: string[]): string {
  const all = commands.map(wordsOf);
  const cases = all.map((c) => {
    const values = Object.entries(c.choices).map(([flag, vs]) => `        ${flag}) COMPREPLY=($(compgen -W "${vs.join(' ')}" -- "$cur")); return ;;`);
    return [`    ${c.name})`, '      case "$prev" in', ...values, '      esac', `      words="${[...c.words, ...global].join(' ')}"; sub="${c.sub.join(' ')}" ;;`].join('\n');
  });
  return `# bash completion for elfprefetch: eval "$(elfprefetch completion)" in ~/.bashrc
# (zsh: autoload -U +X bashcompinit && bashcompinit; then the same line in ~/.zshrc)
_elfprefetch() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" words sub="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == -- ]] && return 0
    if [[ \${COMP_WORDS[i]} != -* ]]; then cmd=\${COMP_WORDS[i]}; break; fi
  done
  case "$cmd" in
    "") words="${[...all.map((c) => c.name), 'completion', ...global].join(' ')}" ;;
${cases.join('\n')}
    *) words="" ;;
  esac
  if [[ $cur == -* || -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$sub" -- "$cur") $(compgen -f -- "$cur"))
  fi
}
complete -o filenames -o bashdefault -o default -F _elfprefetch elfprefetch
`;
}
